"""What a model config and a built model may offer, declared once.

Every model config is a frozen dataclass with a class-level `arch` (its registry name), and
every built model is an `nn.Module`; that is all a user's own model needs (docs/search_spaces.md).
automl's own models offer more, and the trainer, the search and the report ask for it through
the protocols and functions here rather than probing attributes themselves.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Protocol, runtime_checkable

from torch import nn

Stats = tuple[tuple[float, ...], tuple[float, ...]]  # per-channel (mean, std)


@runtime_checkable
class ModelConfig(Protocol):
    arch: ClassVar[str]


@runtime_checkable
class PretrainedConfig(Protocol):
    """A config whose model starts from pretrained weights (finetune)."""

    pretrained: bool  # False: the same architecture from random weights
    weights: str | None  # a local file; None looks in caches and packages

    def normalization(self, channels: int) -> Stats | None:
        """The mean/std the weights expect; None: the training images' own statistics."""

    def check(self) -> None:
        """Raise a one-line error now if the weights this config needs are missing."""


@runtime_checkable
class SizedConfig(Protocol):
    """A config whose model size has a closed form (scratch_cnn), shown next to the counts."""

    closed_form: ClassVar[str]  # the formula in words, for the report

    def closed_form_size(self, in_chans: int, resolution: int, num_classes: int) -> tuple[int, int]:
        """(parameters, forward FLOPs of one image; a multiply-add counts 2)."""


@runtime_checkable
class BackboneModel(Protocol):
    """A built model that is a backbone under a head (finetune): when nothing in the backbone
    trains, its features are computed once and only the head trains on them."""

    backbone: nn.Module
    head: nn.Module
    frozen_backbone: bool
    feature_key: str  # identifies the backbone and its weights in feature-cache keys

    def param_groups(self, optim: Any) -> list[dict]:
        """Optimizer parameter groups (a backbone may train at its own learning rate)."""


def normalization(model_cfg: Any, channels: int) -> Stats | None:
    """What pretrained weights dictate for `channels`, or None (use the data's statistics)."""
    if isinstance(model_cfg, PretrainedConfig):
        return model_cfg.normalization(channels)
    return None


def check_weights(model_cfg: Any) -> None:
    if isinstance(model_cfg, PretrainedConfig):
        model_cfg.check()


def without_weights(model_cfg: Any) -> Any:
    """The same architecture with nothing pretrained to load (for a size, or a saved state)."""
    if isinstance(model_cfg, PretrainedConfig) and model_cfg.pretrained:
        return dataclasses.replace(model_cfg, pretrained=False)
    return model_cfg


def head_only(model: nn.Module) -> bool:
    """Nothing below the head trains: the backbone's features can be computed once."""
    return isinstance(model, BackboneModel) and model.frozen_backbone


def param_groups(model: nn.Module, optim: Any) -> list:
    if isinstance(model, BackboneModel):
        return model.param_groups(optim)
    return [p for p in model.parameters() if p.requires_grad]
