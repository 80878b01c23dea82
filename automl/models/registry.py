"""Model registry, timm style (its `_registry.py`): `@register_model(name, Config)`,
`create_model`, `list_models`. A model's module imports `register_model` from here, and
`automl.models` imports the built-in ones, so nothing imports back into the package."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from automl.config import DataConfig, OptimConfig, TrialConfig
from automl.errors import ConfigError
from automl.registry import Registry

if TYPE_CHECKING:
    from torch import nn

Builder = Callable[..., "nn.Module"]  # (cfg, num_classes, in_chans, resolution) -> nn.Module


@dataclass(frozen=True)
class ModelEntry:
    config_class: type
    build: Builder


_MODELS: Registry[ModelEntry] = Registry("model")


def register_model(name: str, config_class: type) -> Callable[[Builder], Builder]:
    """Register `build(cfg, num_classes, in_chans, resolution)` for configs of `config_class`."""
    if getattr(config_class, "arch", None) != name:
        raise ConfigError(f"{config_class.__name__}.arch must be {name!r} to register it")

    def decorator(build: Builder) -> Builder:
        _MODELS.register(name)(ModelEntry(config_class, build))
        return build

    return decorator


def create_model(cfg, num_classes: int, in_chans: int = 3, resolution: int = 32) -> nn.Module:
    entry = _MODELS.get(getattr(cfg, "arch", type(cfg).__name__))
    if not isinstance(cfg, entry.config_class):
        raise ConfigError(f"model {cfg.arch!r} needs a {entry.config_class.__name__}, got {cfg!r}")
    return entry.build(cfg, num_classes=num_classes, in_chans=in_chans, resolution=resolution)


def config_from_dict(d: dict[str, Any]) -> TrialConfig:
    """The inverse of `automl.config.config_to_dict`: the model config class comes from `arch`."""
    model = dict(d["model"])
    cls = model_config_class(model.pop("arch"))
    return TrialConfig(
        model=cls(**model), optim=OptimConfig(**d["optim"]), data=DataConfig(**d["data"])
    )


def list_models() -> list[str]:
    return _MODELS.names()


def model_config_class(name: str) -> type:
    return _MODELS.get(name).config_class


def is_builtin_model(name: str) -> bool:
    """Registered by automl or its bundled spaces (not by a user's space file)."""
    return _MODELS.get(name).build.__module__.split(".")[0] in ("automl", "search_spaces")
