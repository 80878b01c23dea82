"""Build what a config asks for and train it: the loop shared by search, finalize, benchmarks."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial

import torch
from torch import nn

from automl.config import TrialConfig
from automl.data import Batches, channel_stats, to_device_if_fits
from automl.metrics import f1_scores
from automl.models import create_model, interface
from automl.models.flops import count_flops, count_params
from automl.train import checkpoint, memory_format
from automl.train.engine import evaluate, train_one_epoch
from automl.train.features import FeatureBatches, FeatureStore
from automl.train.optim import create_optimizer, create_scheduler
from automl.train.precision import Precision

EpochCallback = Callable[[int, dict], None]  # (epoch starting at 1, history row)
ModelCallback = Callable[[nn.Module, dict], None]  # (built model, how it trains: layout...)
# (epoch, its state on demand: train/checkpoint.py), after on_epoch
CheckpointCallback = Callable[[int, Callable[[], dict]], None]
Parts = dict[str, float]  # seconds by part of a run outside its epochs: build, features


@contextmanager
def timing(parts: Parts | None, name: str) -> Iterator[None]:
    """Add the seconds the block takes to `parts[name]` (nothing when `parts` is None)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        if parts is not None:
            parts[name] = parts.get(name, 0.0) + time.perf_counter() - start


@dataclass
class FitResult:
    model: nn.Module
    history: list[dict] = field(default_factory=list)
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    channels_last: bool = False


def build_model(
    cfg: TrialConfig, num_classes: int, in_chans: int, precision: Precision
) -> nn.Module:
    model = create_model(
        cfg.model, num_classes=num_classes, in_chans=in_chans, resolution=cfg.data.resolution
    )
    return model.to(precision.device)


def model_stats(model: nn.Module, in_chans: int, resolution: int) -> dict:
    return {
        "params": count_params(model),
        "trainable_params": count_params(model, True),
        "flops": count_flops(model, in_chans, resolution),
    }


def normalization(cfg: TrialConfig, images: torch.Tensor) -> tuple[tuple, tuple]:
    """What pretrained weights dictate, else the training images' own per-channel statistics."""
    stats = interface.normalization(cfg.model, images.shape[1])
    return stats if stats is not None else channel_stats(images)


def fit(
    cfg: TrialConfig,
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor] | None,
    *,
    num_classes: int,
    epochs: int,
    precision: Precision,
    seed: int,
    features: FeatureStore | None = None,
    on_built: Callable[[nn.Module], None] | None = None,
    on_model: ModelCallback | None = None,
    on_epoch: EpochCallback | None = None,
    parts: Parts | None = None,
    on_checkpoint: CheckpointCallback | None = None,
    resume: dict | None = None,
) -> FitResult:
    """Train `cfg` on uint8 `train` images for `epochs`; evaluate on `val` after each epoch.

    A model whose backbone is entirely frozen, trained without augmentation, trains only its
    head on features computed once (kept in `features` across trials when given).
    The memory format is chosen on the run's own first batches, no extra step taken
    (memory_format.LayoutChoice), and kept per architecture and machine.
    `on_built(model)` runs as soon as the model is built (it may raise to stop there),
    `on_model(model, how)` once its memory format is chosen, `on_epoch` after every epoch.
    `parts` gets the seconds of what is not an epoch added as it goes: "build" (the model and
    its weights), "features" (a frozen backbone's pass).
    `on_checkpoint(epoch, state)` after `on_epoch`: `state()` is the run's state then
    (train/checkpoint.py); given back as `resume`, the run trains the epochs after it only,
    in the layout it had, ending as it would have without the break.
    """
    torch.manual_seed(seed)
    # On a GPU the uint8 pool lives there when it fits: no host-to-device copy per batch.
    images, labels = to_device_if_fits(*train, precision.device)
    if val is not None:
        val = to_device_if_fits(*val, precision.device)
    mean, std = normalization(cfg, images)
    with timing(parts, "build"):
        model = build_model(cfg, num_classes, images.shape[1], precision)
    if on_built is not None:
        on_built(model)
    head_only = interface.head_only(model) and cfg.data.augment == "none"
    res = cfg.data.resolution
    shape = (cfg.data.batch_size, images.shape[1], res, res)  # the layout's key: per image
    # What runs on images: the whole model, or only the frozen backbone (forward, once).
    on_images = model.backbone if head_only else model
    # no probe: the feature pass or the first epoch times its first batches in both layouts
    seconds = memory_format.measured(on_images, shape, precision, train=not head_only)
    channels_last = None if seconds is None else memory_format.pays(seconds)
    choice = None if head_only else memory_format.LayoutChoice(channels_last)
    generator = torch.Generator().manual_seed(seed)
    eval_size = max(256, cfg.data.batch_size)
    trained: nn.Module = model
    if head_only:
        store = features or FeatureStore()
        trained = model.head

        timed: dict[str, float] = {}

        def batches(split: str, data, shuffle: bool, size: int) -> FeatureBatches:
            nonlocal channels_last
            with timing(parts, "features"):
                feats = store.get(split, model, data[0], mean, std, precision, channels_last, timed)
            if channels_last is None and timed:  # this pass chose: kept for the next ones
                channels_last = memory_format.remember(on_images, shape, precision, False, timed)
            return FeatureBatches(
                feats, data[1], size, device=precision.device, shuffle=shuffle, generator=generator
            )

        train_batches = batches(
            "train" if val is not None else "train+val", train, True, cfg.data.batch_size
        )
        val_batches = None if val is None else batches("val", val, False, eval_size)
        channels_last = bool(channels_last)  # none chose (all cached): the default layout
    else:
        train_batches = Batches(
            images,
            labels,
            cfg.data.batch_size,
            mean=mean,
            std=std,
            device=precision.device,
            shuffle=True,
            augment=cfg.data.augment,
            generator=generator,
            channels_last=False,  # the choice lays out each batch
        )
        val_batches = (
            None
            if val is None
            else Batches(
                val[0],
                val[1],
                eval_size,
                mean=mean,
                std=std,
                device=precision.device,
                channels_last=False,
            )
        )
    if head_only and channels_last:
        model.to(memory_format=torch.channels_last)
    if on_model is not None and choice is None:
        on_model(model, {"channels_last": channels_last})
    optimizer = create_optimizer(interface.param_groups(model, cfg.optim), cfg.optim)
    scheduler = create_scheduler(optimizer, cfg.optim, epochs * max(1, len(train_batches)))
    scaler = precision.grad_scaler()
    criterion = nn.CrossEntropyLoss(label_smoothing=cfg.optim.label_smoothing)
    result = FitResult(model, mean=mean, std=std, channels_last=bool(channels_last))

    announced = choice is None
    first = 1
    if resume is not None:
        checkpoint.restore(resume, trained, optimizer, scheduler, scaler, generator)
        result.history, first = list(resume["history"]), resume["epoch"] + 1
        if choice is not None:  # chosen before the break: kept, not timed again
            choice.known = choice.channels_last = bool(resume["channels_last"])
            memory_format.to_layout(model, choice.channels_last)
            for each in (train_batches, val_batches):
                if isinstance(each, Batches):
                    each.channels_last = choice.channels_last

    def announce(choice: memory_format.LayoutChoice) -> None:
        """The choice made: kept when timed here, told to `on_model`."""
        nonlocal announced
        result.channels_last, announced = choice.decide(), True
        memory_format.to_layout(model, result.channels_last)
        if choice.measured:
            memory_format.remember(model, shape, precision, True, choice.seconds)
        if on_model is not None:
            on_model(model, {"channels_last": result.channels_last})

    for epoch in range(first, epochs + 1):
        batches: Iterable = train_batches
        if choice is not None:  # its first batches in turn in each layout
            batches = choice.batches(train_batches, model, precision.device)
        lr = max(group["lr"] for group in optimizer.param_groups)  # the head's, at the start
        stats = train_one_epoch(
            trained, criterion, optimizer, scheduler, batches, precision, scaler
        )
        if choice is not None:
            if choice.channels_last is not None and not announced:
                announce(choice)
            for each in (train_batches, val_batches):  # in the model's layout from now
                if isinstance(each, Batches):
                    each.channels_last = choice.current
        row = {
            "epoch": epoch,
            "train_loss": stats.loss,
            "train_acc": stats.accuracy,
            "lr": lr,
            "seconds": stats.seconds,
            "train_seconds": stats.seconds,
        }
        if val_batches is not None:
            ev = evaluate(trained, criterion, val_batches, precision)
            f1 = f1_scores(val[1].cpu(), ev.predictions, num_classes)
            row |= {
                "val_loss": ev.loss,
                "val_acc": ev.accuracy,
                "val_f1_macro": f1["f1_macro"],
                "val_f1_micro": f1["f1_micro"],
                "seconds": stats.seconds + ev.seconds,
                "eval_seconds": ev.seconds,
            }
        result.history.append(row)
        if on_epoch is not None:
            on_epoch(epoch, row)
        if on_checkpoint is not None:
            layout = result.channels_last if choice is None else choice.current
            state = partial(
                checkpoint.snapshot, epoch, trained, optimizer, scheduler, scaler, generator
            )
            on_checkpoint(epoch, partial(state, layout, result.history))
    if choice is not None and not announced:  # fewer batches than the choice needs
        announce(choice)
    return result
