"""A training run's state at the end of an epoch: what `fit` needs to train the epochs left
exactly as the run would have without the interruption (on the same machine and seed).

The state is plain tensors, numbers and lists, so it loads with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import math
import random

import numpy as np
import torch
from torch import nn


def rng_state(generator: torch.Generator) -> dict:
    """Every random stream a run draws from: its own generator (order, augmentation), torch's
    global one (dropout), numpy's and Python's, and CUDA's where it is used."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "generator": generator.get_state(),
        "torch": torch.get_rng_state(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
        "python": _python_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict, generator: torch.Generator) -> None:
    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal.tolist()), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _python_state() -> list:
    """Python's generator state with its 625 words as one tensor: as a list of ints, pickling
    them one by one made the checkpoint of a small CNN twice as slow to write."""
    version, internal, gauss = random.getstate()
    return [version, torch.tensor(internal, dtype=torch.int64), gauss]


def snapshot(
    epoch: int,
    trained: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler,
    scaler: torch.amp.GradScaler,
    generator: torch.Generator,
    channels_last: bool,
    history: list[dict],
) -> dict:
    """The state after `epoch` (1-based) of what trains (`trained`: the model, or the head
    of a frozen backbone, whose own weights are rebuilt as they were)."""
    return {
        "epoch": epoch,
        "model": trained.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict(),
        "rng": rng_state(generator),
        "channels_last": channels_last,
        "history": list(history),
    }


def restore(
    state: dict,
    trained: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler,
    scaler: torch.amp.GradScaler,
    generator: torch.Generator,
) -> None:
    """Put a `snapshot` back into a run built anew from the same config and seed."""
    trained.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    scaler.load_state_dict(state["scaler"])
    set_rng_state(state["rng"], generator)


TENSOR = "__tensor__"  # marks where `pack` took a tensor out: [dtype, offset, shape]


def pack(state):
    """`state` (nested dicts, lists and tuples) with its tensors gathered into one flat CPU
    tensor per dtype: written with torch.save, ~100 small tensors (a CNN with AdamW) cost
    twice the time of the few these make, and it is the same bytes."""
    groups: dict[str, list[torch.Tensor]] = {}
    sizes: dict[str, int] = {}

    def taken(value):
        if not isinstance(value, torch.Tensor):
            return None
        name = str(value.dtype).removeprefix("torch.")
        groups.setdefault(name, []).append(value.detach().reshape(-1).cpu())
        offset = sizes.get(name, 0)
        sizes[name] = offset + value.numel()
        return {TENSOR: [name, offset, list(value.shape)]}

    tree = _rebuilt(state, taken)
    return {"tree": tree, "tensors": {k: torch.cat(v) for k, v in groups.items()}}


def unpack(packed: dict):
    """What `pack` was given (each tensor a copy of its own)."""
    flat = packed["tensors"]

    def put_back(value):
        if not (isinstance(value, dict) and len(value) == 1 and TENSOR in value):
            return None
        name, offset, shape = value[TENSOR]
        return flat[name].narrow(0, offset, math.prod(shape)).view(shape).clone()

    return _rebuilt(packed["tree"], put_back)


def _rebuilt(value, replace):
    """`value` with its dicts, lists and tuples rebuilt, and `replace(part)` instead of each
    part for which it is not None."""
    new = replace(value)
    if new is not None:
        return new
    if isinstance(value, dict):
        return {k: _rebuilt(v, replace) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_rebuilt(v, replace) for v in value)
    return value
