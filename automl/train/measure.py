"""Micro-benchmarks behind `--precision auto` and the per-model memory format.

Each times a few real training steps (forward, backward) of a model on random inputs, the
candidates interleaved so that a passing load on the machine hits them alike, the best of
the timed runs counting. A candidate has to win by a margin to replace the default (fp32,
contiguous), so a tie never trades accuracy or the default for noise.
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Callable

import torch
from torch import nn

WARMUP, TIMED = 1, 2
MARGIN = 0.9  # a candidate must take at most 90% of the default's time


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(candidates: dict[str, Callable[[], None]], device: torch.device) -> dict[str, float]:
    """Best seconds of each zero-argument step: all warmed up first, then timed in turns."""
    for step in candidates.values():
        for _ in range(WARMUP):
            step()
    best = dict.fromkeys(candidates, float("inf"))
    for _ in range(TIMED):
        for name, step in candidates.items():
            sync(device)
            start = time.perf_counter()
            step()
            sync(device)
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def training_step(
    model: nn.Module,
    shape: tuple[int, ...],
    device: torch.device,
    dtype: torch.dtype | None,
    channels_last: bool,
    train: bool = True,
) -> Callable[[], None]:
    """One forward (+ backward when `train`) of a private copy of `model` on random input."""
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    net = copy.deepcopy(model).to(device, memory_format=fmt).train(train)
    x = torch.randn(shape, device=device).contiguous(memory_format=fmt)

    def step() -> None:
        grad = torch.enable_grad() if train else torch.no_grad()
        amp = (
            torch.autocast(device.type, dtype=dtype)
            if dtype is not None
            else contextlib.nullcontext()
        )
        with grad, amp:
            out = net(x)
        if train:
            out.float().square().mean().backward()
            net.zero_grad(set_to_none=True)

    return step


def probe_cnn() -> nn.Module:
    """A small CNN of the kind automl trains: three conv-BN-ReLU-pool blocks and a head."""
    layers: list[nn.Module] = []
    channels = 3
    for width in (32, 32, 32):
        layers += [
            nn.Conv2d(channels, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.MaxPool2d(2),
        ]
        channels = width
    return nn.Sequential(*layers, nn.Flatten(), nn.LazyLinear(10))


def measure_bf16(device: torch.device) -> dict[str, float]:
    """Seconds of one training step of `probe_cnn` (batch 32, 64 px) in fp32 and bf16."""
    shape = (32, 3, 64, 64)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = probe_cnn()
        model(torch.zeros(1, *shape[1:]))  # materialise the lazy layer
        steps = {
            name: training_step(model, shape, device, dtype, channels_last=True)
            for name, dtype in (("fp32", None), ("bf16", torch.bfloat16))
        }
        return time_steps(steps, device)


def measure_memory_format(
    model: nn.Module,
    shape: tuple[int, ...],
    device: torch.device,
    dtype: torch.dtype | None,
    train: bool = True,
) -> dict[str, float]:
    """Seconds of one step of `model` on inputs of `shape`, contiguous and channels_last.

    Works on copies with the global RNG put back, so training after it is unchanged.
    """
    with torch.random.fork_rng(devices=None if device.type == "cuda" else []):
        steps = {
            name: training_step(model, shape, device, dtype, channels_last, train)
            for name, channels_last in (("contiguous", False), ("channels_last", True))
        }
        return time_steps(steps, device)


LATENCY_WARMUP, LATENCY_RUNS = 2, 7


@torch.no_grad()
def inference_latency_ms(
    model: nn.Module,
    in_chans: int,
    resolution: int,
    device: torch.device,
    dtype: torch.dtype | None,
) -> float:
    """Median milliseconds of a batch-1 forward pass of `model` in eval mode, as deployed on
    `device` in autocast `dtype` (None: fp32). The model's mode is put back afterwards."""
    was_training = model.training
    model.eval()
    x = torch.zeros(1, in_chans, resolution, resolution, device=device)
    amp = (
        torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()
    )
    times = []
    try:
        with amp:
            for i in range(LATENCY_WARMUP + LATENCY_RUNS):
                sync(device)
                start = time.perf_counter()
                model(x)
                sync(device)
                if i >= LATENCY_WARMUP:
                    times.append(time.perf_counter() - start)
    finally:
        model.train(was_training)
    return 1000.0 * sorted(times)[len(times) // 2]
