"""A model that trains on images chooses its memory layout on its own first batches, not in
a separate timing probe: the choice is the probe's, it is kept for later trials of the same
architecture, and a run's numbers do not depend on whether it was kept."""

from __future__ import annotations

import time

import pytest
import torch

from automl.config import DataConfig, OptimConfig, TrialConfig
from automl.models.scratch_cnn import ScratchCNNConfig
from automl.train import fit as fit_module
from automl.train import measure
from automl.train.fit import fit
from automl.train.memory_format import TRYING, architecture_key, channels_last_pays, measured
from automl.train.precision import resolve_precision

CPU = torch.device("cpu")
SLEEP = 0.3  # seconds a batch in the slow layout takes on top of its step (load: ~0.1 s)


def never_probed(*args, **kwargs):
    raise AssertionError("a training run timed a separate probe")


def config(dropout: float = 0.1, batch_size: int = 8) -> TrialConfig:
    return TrialConfig(
        model=ScratchCNNConfig(base_filters=8, dense_units=16, dropout=dropout),
        optim=OptimConfig(lr=3e-3),
        data=DataConfig(resolution=16, batch_size=batch_size),
    )


def conv_weight(model: torch.nn.Module) -> torch.Tensor:
    return next(p for p in model.parameters() if p.ndim == 4)


def data(n: int = 80) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (n, 3, 16, 16), dtype=torch.uint8, generator=g), torch.arange(
        n
    ) % 2


class Slow:
    """Built models take SLEEP longer on inputs in the `slow` layout; training inputs' layouts
    are recorded in `seen`."""

    def __init__(self, monkeypatch, slow: bool) -> None:
        self.slow, self.seen = slow, []
        build = fit_module.build_model

        def built(*args, **kwargs):
            model = build(*args, **kwargs)
            model.register_forward_pre_hook(self.hook)
            return model

        monkeypatch.setattr(fit_module, "build_model", built)

    def hook(self, module, args) -> None:
        layout = args[0].is_contiguous(memory_format=torch.channels_last)
        if module.training:
            self.seen.append(layout)
        if layout == self.slow:
            time.sleep(SLEEP)


@pytest.mark.parametrize("slow", [False, True])  # the layout made slow: contiguous, or not
def test_training_chooses_on_its_first_batches_as_the_probe_would(tmp_path, monkeypatch, slow):
    probe = resolve_precision("fp32", CPU, tmp_path / "probe")
    model = fit_module.build_model(config(), 2, 3, probe)
    slowed = Slow(monkeypatch, slow)
    model.register_forward_pre_hook(slowed.hook)
    expected = channels_last_pays(model, (8, 3, 16, 16), probe)  # the separate probe's choice
    assert expected is not slow
    monkeypatch.setattr(measure, "measure_memory_format", never_probed)
    slowed.seen.clear()
    precision = resolve_precision("fp32", CPU, tmp_path / "run")
    told: list[dict] = []
    first = fit(
        config(), data(), data(20), num_classes=2, epochs=2, precision=precision, seed=0,
        on_model=lambda model, how: told.append(how),
    )  # fmt: skip
    assert first.channels_last is expected and told == [{"channels_last": expected}]
    assert slowed.seen[:4] == list(TRYING)  # no batch twice: 10 a epoch, 20 in all
    assert slowed.seen[4:] == [expected] * 16
    assert conv_weight(first.model).is_contiguous(memory_format=torch.channels_last) is expected
    kept = measured(first.model, (8, 3, 16, 16), precision, train=True)
    assert kept is not None  # what the first batches timed is kept, as a probe's would be
    assert (kept["channels_last"] <= measure.MARGIN * kept["contiguous"]) is expected

    # A later trial of the same architecture (another dropout rate, batch size) takes the
    # kept choice without timing: the layouts' times swapped, it still chooses as before.
    slowed.slow, slowed.seen = not slow, []
    later = fit(
        config(dropout=0.3, batch_size=16), data(), None, num_classes=2, epochs=1,
        precision=precision, seed=1,
    )  # fmt: skip
    assert later.channels_last is expected and slowed.seen == [*TRYING, expected]
    # The same trial again, its choice now kept: the same first batches in turn, the same numbers.
    again = fit(config(), data(), data(20), num_classes=2, epochs=2, precision=precision, seed=0)
    assert [r["train_loss"] for r in again.history] == [r["train_loss"] for r in first.history]
    assert [r["val_loss"] for r in again.history] == [r["val_loss"] for r in first.history]


def test_a_choice_spans_epochs_of_few_batches_and_none_is_kept_from_too_few(tmp_path, monkeypatch):
    monkeypatch.setattr(measure, "measure_memory_format", never_probed)
    slowed = Slow(monkeypatch, slow=False)  # contiguous slow: channels_last pays
    precision = resolve_precision("fp32", CPU, tmp_path)
    result = fit(config(), data(16), None, num_classes=2, epochs=3, precision=precision, seed=0)
    assert slowed.seen == [*TRYING, True, True] and result.channels_last is True
    assert conv_weight(result.model).is_contiguous(memory_format=torch.channels_last)
    slowed.seen.clear()
    other = ScratchCNNConfig(base_filters=8, dense_units=16, kernel_size=5)  # none kept for it
    few = TrialConfig(model=other, optim=OptimConfig(lr=3e-3), data=config().data)
    told: list[dict] = []
    result = fit(
        few, data(16), None, num_classes=2, epochs=1, precision=precision, seed=0,
        on_model=lambda model, how: told.append(how),
    )  # fmt: skip
    assert slowed.seen == [False, True] and result.channels_last is False
    assert told == [{"channels_last": False}]  # the default layout, told once at the end
    assert measured(result.model, (8, 3, 16, 16), precision, train=True) is None


def test_the_key_is_the_architecture_and_the_image_not_dropout_or_batch():
    p = resolve_precision("fp32", CPU)

    def key(cfg: TrialConfig, batch: int) -> str:
        return architecture_key(fit_module.build_model(cfg, 2, 3, p), (batch, 3, 16, 16), p, True)

    assert key(config(dropout=0.1), 8) == key(config(dropout=0.4), 32)
    wider = TrialConfig(
        model=ScratchCNNConfig(base_filters=16, dense_units=16),
        optim=OptimConfig(),
        data=config().data,
    )
    assert key(wider, 8) != key(config(), 8)
    assert architecture_key(
        fit_module.build_model(config(), 2, 3, p), (8, 3, 32, 32), p, True
    ) != key(config(), 8)
