"""Trainer pieces: precision errors, optimizer/scheduler tables, the loop's guarantees."""

import pytest
import torch

from automl import ConfigError, OptimConfig, TrainingError, TrialConfig
from automl.config import DataConfig
from automl.models.scratch_cnn import ScratchCNNConfig
from automl.train.fit import fit
from automl.train.optim import SCHEDULERS, create_optimizer, create_scheduler
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
    with pytest.raises(ConfigError, match="CUDA is not available; use --device cpu"):
        resolve_device("cuda")
    assert resolve_device("auto") == CPU


@pytest.mark.parametrize("name", ["adamw", "adam", "sgd"])
@pytest.mark.parametrize("scheduler", sorted(SCHEDULERS))
def test_optimizer_and_scheduler_tables(name, scheduler):
    w = torch.nn.Parameter(torch.ones(3))
    cfg = OptimConfig(name=name, lr=0.1, scheduler=scheduler)
    opt = create_optimizer([w], cfg)
    sched = create_scheduler(opt, cfg, total_steps=10)
    lrs = []
    for _ in range(10):
        w.sum().backward()
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    assert all(lr >= 0 for lr in lrs)
    if scheduler == "cosine":
        assert lrs[-1] < 0.01 < max(lrs)


def test_unknown_optimizer():
    with pytest.raises(ConfigError, match="unknown optimizer 'lion'; choose one of: adam, adamw"):
        create_optimizer([torch.nn.Parameter(torch.ones(1))], OptimConfig(name="lion"))


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
