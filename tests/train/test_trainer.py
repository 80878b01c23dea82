"""Trainer pieces: precision errors, optimizer/scheduler tables, the loop's guarantees."""

from types import SimpleNamespace

import pytest
import torch

from automl import ConfigError, OptimConfig, TrainingError, TrialConfig, config
from automl.config import DataConfig
from automl.models.scratch_cnn import ScratchCNNConfig
from automl.train import optim
from automl.train.fit import fit
from automl.train.optim import create_optimizer, create_scheduler
from automl.train.precision import resolve_device, resolve_precision

CPU = torch.device("cpu")


def test_precision_errors():
    with pytest.raises(ConfigError, match="fp16 needs a CUDA device"):
        resolve_precision("fp16", CPU)
    with pytest.raises(ConfigError, match="choose one of: auto, bf16, fp16, fp32"):
        resolve_precision("fp8", CPU)
    assert resolve_precision("fp32", CPU).dtype is None


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_cuda_missing_is_a_clear_error():
    with pytest.raises(ConfigError, match="CUDA is not available; use device=cpu"):
        resolve_device("cuda")
    assert resolve_device("auto") == CPU


def test_config_names_are_the_tables_keys():
    """automl.config validates names without importing torch; the tables implement each one."""
    assert sorted(config.OPTIMIZERS) == sorted(optim.OPTIMIZERS)
    assert sorted(config.SCHEDULERS) == sorted(optim.SCHEDULERS)


@pytest.mark.parametrize(
    ("name", "kind"),
    [("adamw", torch.optim.AdamW), ("adam", torch.optim.Adam), ("sgd", torch.optim.SGD)],
)
def test_optimizers_step_downhill(name, kind):
    w = torch.nn.Parameter(torch.ones(3))
    opt = create_optimizer([w], OptimConfig(name=name, lr=0.1))
    assert type(opt) is kind
    w.sum().backward()
    opt.step()
    assert (w < 1).all()  # the gradient of sum(w) is +1 everywhere


def _lrs(scheduler: str, steps: int = 30) -> list[float]:
    w = torch.nn.Parameter(torch.ones(1))
    cfg = OptimConfig(name="sgd", lr=0.1, scheduler=scheduler)
    opt = create_optimizer([w], cfg)
    sched = create_scheduler(opt, cfg, total_steps=steps)
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def test_schedules_have_their_shapes():
    cosine = _lrs("cosine")
    assert cosine[0] == pytest.approx(0.1)  # 30 steps: a warm-up of one step
    assert all(a >= b for a, b in zip(cosine, cosine[1:], strict=False))
    assert cosine[-1] < 0.002
    onecycle = _lrs("onecycle")
    peak = onecycle.index(max(onecycle))
    assert 0 < peak < 29 and max(onecycle) == pytest.approx(0.1)
    assert onecycle[0] < 0.01 and onecycle[-1] < 0.001
    assert _lrs("step") == pytest.approx([0.1] * 10 + [0.01] * 10 + [0.001] * 10)
    assert _lrs("constant") == pytest.approx([0.1] * 30)


def test_unknown_optimizer_and_scheduler():
    with pytest.raises(ConfigError, match="unknown optimizer 'lion'; choose one of: adam, adamw"):
        OptimConfig(name="lion")
    with pytest.raises(ConfigError, match="unknown scheduler 'poly'; choose one of: constant"):
        OptimConfig(scheduler="poly")
    # the tables check too, for a config that skipped OptimConfig's own check
    unchecked = SimpleNamespace(name="lion", scheduler="poly", lr=0.1, weight_decay=0.0)
    w = torch.nn.Parameter(torch.ones(1))
    with pytest.raises(ConfigError, match="unknown optimizer 'lion'"):
        create_optimizer([w], unchecked)
    opt = torch.optim.SGD([w], lr=0.1)
    with pytest.raises(ConfigError, match="unknown scheduler 'poly'"):
        create_scheduler(opt, unchecked, total_steps=5)


def _data(n=64, classes=4, r=16):
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(n) % classes
    images = (torch.rand(n, 3, r, r, generator=g) * 60).to(torch.uint8)
    images[torch.arange(n), labels % 3] += 150  # learnable: class shows in one channel
    return images, labels


CFG = TrialConfig(
    model=ScratchCNNConfig(base_filters=8, dense_units=16),
    optim=OptimConfig(lr=3e-3),
    data=DataConfig(resolution=16, batch_size=16),
)


def test_fit_is_reproducible_and_learns():
    precision = resolve_precision("auto", CPU)
    train = _data()
    a = fit(CFG, train, train, num_classes=4, epochs=4, precision=precision, seed=3)
    b = fit(CFG, train, train, num_classes=4, epochs=4, precision=precision, seed=3)
    assert [r["train_loss"] for r in a.history] == [r["train_loss"] for r in b.history]
    assert a.history[-1]["train_loss"] < a.history[0]["train_loss"]
    assert {
        "epoch",
        "train_loss",
        "train_acc",
        "val_loss",
        "val_acc",
        "val_f1_macro",
        "val_f1_micro",
        "seconds",
    } <= set(a.history[0])


def test_non_finite_loss_stops_training():
    cfg = TrialConfig(
        model=CFG.model, optim=OptimConfig(name="sgd", lr=1e30, momentum=0.9), data=CFG.data
    )
    with pytest.raises(TrainingError, match="training loss became"):
        fit(
            cfg,
            _data(),
            None,
            num_classes=4,
            epochs=3,
            precision=resolve_precision("fp32", CPU),
            seed=0,
        )
