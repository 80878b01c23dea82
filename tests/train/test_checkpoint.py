"""A run stopped after an epoch and resumed from its checkpoint ends as the run without the
break: same weights, same history (augmentation, dropout and shuffling all draw randoms)."""

from __future__ import annotations

import io

import pytest
import torch

from automl import OptimConfig, TrialConfig
from automl.config import DataConfig
from automl.models.scratch_cnn import ScratchCNNConfig
from automl.train.checkpoint import pack, unpack
from automl.train.fit import fit
from automl.train.precision import resolve_precision

from .test_trainer import _data

CPU = torch.device("cpu")
CFG = TrialConfig(
    model=ScratchCNNConfig(base_filters=8, dense_units=16, dropout=0.3, batch_norm=True),
    optim=OptimConfig(lr=3e-3, scheduler="cosine"),
    data=DataConfig(resolution=16, batch_size=16, augment="strong"),
)


class Stop(Exception):
    pass


def _saved_after(epoch: int, precision) -> dict:
    """The state fit hands out after `epoch`, through torch.save/load as the store keeps it."""
    kept = {}

    def on_checkpoint(at: int, state) -> None:
        if at == epoch:
            buffer = io.BytesIO()
            torch.save(pack(state()), buffer)
            buffer.seek(0)
            kept["state"] = unpack(torch.load(buffer, weights_only=True))
            raise Stop  # the worker dies here

    with pytest.raises(Stop):
        fit(CFG, _data(), _data(32), num_classes=4, epochs=5, precision=precision, seed=3,
            on_checkpoint=on_checkpoint)  # fmt: skip
    return kept["state"]


@pytest.mark.parametrize("precision", ["fp32", "auto"])
def test_resumed_run_ends_as_the_uninterrupted_one(precision):
    amp = resolve_precision(precision, CPU)
    whole = fit(CFG, _data(), _data(32), num_classes=4, epochs=5, precision=amp, seed=3)
    state = _saved_after(2, amp)
    trained = []
    resumed = fit(
        CFG, _data(), _data(32), num_classes=4, epochs=5, precision=amp, seed=3, resume=state,
        on_epoch=lambda epoch, row: trained.append(epoch),
    )  # fmt: skip
    assert trained == [3, 4, 5]  # the epochs left, only
    keys = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc")
    rows = [{k: r[k] for k in keys} for r in resumed.history]
    assert rows == [{k: r[k] for k in keys} for r in whole.history]
    for name, tensor in whole.model.state_dict().items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name


def test_pack_keeps_every_tensor_and_value():
    state = {
        "w": torch.randn(3, 4).t(),  # not contiguous
        "step": torch.tensor(7.0),  # zero-dim
        "mask": torch.tensor([True, False]),
        "rng": torch.arange(5, dtype=torch.uint8),
        "half": torch.randn(2, dtype=torch.bfloat16),
        "nested": [1, "a", (torch.ones(2, 2), None, 2.5), {"x": torch.zeros(0)}],
        "plain": {"epoch": 3, "params": {"lr": 0.1}},
    }
    packed = pack(state)
    assert len(packed["tensors"]) == 4  # float32, bool, uint8, bfloat16: one each
    buffer = io.BytesIO()
    torch.save(packed, buffer)
    buffer.seek(0)
    back = unpack(torch.load(buffer, weights_only=True))
    assert back["plain"] == state["plain"] and back["nested"][:2] == [1, "a"]
    pairs = [(back[k], state[k]) for k in ("w", "step", "mask", "rng", "half")]
    pairs += [(back["nested"][2][0], state["nested"][2][0])]
    pairs += [(back["nested"][3]["x"], state["nested"][3]["x"])]
    for got, want in pairs:
        assert got.dtype == want.dtype and got.shape == want.shape and torch.equal(got, want)
    assert back["nested"][2][1:] == (None, 2.5)
