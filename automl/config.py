"""Frozen configs that a search space returns and every builder consumes.

A space is a function `(trial) -> TrialConfig`; builders take these configs, never the
trial, so the best trial rebuilds from its params alone via `optuna.trial.FixedTrial`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from automl.errors import ConfigError, flag
from automl.registry import check_name

# The names configs accept; automl.train.optim and automl.data.augment implement each one.
OPTIMIZERS = ("adamw", "adam", "sgd")
SCHEDULERS = ("cosine", "onecycle", "step", "constant")
AUGMENTATIONS = ("none", "basic", "strong")


def check_batching(batch_size: int, augment: str) -> None:
    """What DataConfig and the batch loader both require."""
    check_name(augment, AUGMENTATIONS, "augmentation")
    if batch_size < 1:
        raise ConfigError(f"batch size {batch_size} must be at least 1")


@dataclass(frozen=True)
class OptimConfig:
    name: str = "adamw"  # one of OPTIMIZERS
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9  # SGD only
    nesterov: bool = False  # SGD only
    scheduler: str = "cosine"  # one of SCHEDULERS
    label_smoothing: float = 0.0

    def __post_init__(self) -> None:
        check_name(self.name, sorted(OPTIMIZERS), "optimizer")
        check_name(self.scheduler, sorted(SCHEDULERS), "scheduler")
        if not self.lr > 0:
            raise ConfigError(f"learning rate {self.lr} must be positive")


@dataclass(frozen=True)
class DataConfig:
    resolution: int = 32  # images are resized to resolution x resolution once, then cached
    batch_size: int = 64
    augment: str = "none"  # one of AUGMENTATIONS

    def __post_init__(self) -> None:
        check_batching(self.batch_size, self.augment)
        if not 4 <= self.resolution <= 1024:
            raise ConfigError(f"resolution {self.resolution} is outside 4..1024")


@dataclass(frozen=True)
class TrialConfig:
    """Everything one trial needs: what to build, how to optimise it, how to feed it."""

    model: Any  # a model config dataclass; its `arch` names the builder in automl.models
    optim: OptimConfig = field(default_factory=OptimConfig)
    data: DataConfig = field(default_factory=DataConfig)


def config_to_dict(cfg: TrialConfig) -> dict[str, Any]:
    """Plain-type form, safe for `torch.load(weights_only=True)` and JSON; the model registry
    turns it back (`automl.models.config_from_dict`)."""
    return {
        "model": {"arch": cfg.model.arch, **dataclasses.asdict(cfg.model)},
        "optim": dataclasses.asdict(cfg.optim),
        "data": dataclasses.asdict(cfg.data),
    }


def model_options(weights: str | Path | None, pretrained: bool) -> dict[str, Any]:
    """--weights / --no-pretrained as the model options a study keeps (`with_model_options`
    refuses them for a model without a pretrained backbone)."""
    options: dict[str, Any] = {}
    if weights is not None:
        options["weights"] = str(Path(weights).expanduser().resolve())
    if not pretrained:
        options["pretrained"] = False
    return options


def with_model_options(cfg: TrialConfig, options: dict[str, Any]) -> TrialConfig:
    """Study-wide model settings (`weights`, `pretrained`) applied on top of a space's config."""
    if not options:
        return cfg
    fields = {f.name for f in dataclasses.fields(cfg.model)}
    missing = sorted(set(options) - fields)
    if missing:
        raise ConfigError(
            f"model {cfg.model.arch!r} has no pretrained backbone; drop "
            + ", ".join(map(flag, missing))
        )
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, **options))
