"""Freeze any timm backbone by depth, using its stage information (`feature_info`).

A stage ends at the module a `feature_info` entry names; everything between the end of one
stage and the end of the next belongs to the next (the stem belongs to stage 0), and what comes
after the last stage (final conv, norm, pooling) to a last "post" group. "Last k stages
trainable" trains stages n-k .. n-1 and the post group.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import TYPE_CHECKING, Any

from automl.errors import ConfigError

if TYPE_CHECKING:
    from torch import nn

FREEZE_STRATEGIES = ("head", "bn_head", "last_k", "full")


@cache
def norm_types() -> tuple[type, ...]:
    """The norm layers frozen or trained apart from the rest (torch loads with a model)."""
    from torch import nn
    from torch.nn.modules.batchnorm import _NormBase

    return (_NormBase, nn.LayerNorm, nn.GroupNorm)


def __getattr__(name: str) -> Any:
    if name == "NORM_TYPES":
        return norm_types()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def stage_prefixes(model: nn.Module) -> list[str]:
    info = getattr(model, "feature_info", None)
    if not info:
        raise ConfigError(f"{type(model).__name__} has no feature_info; cannot freeze by stage")
    return [entry["module"] for entry in info]


def stage_of(names: Iterable[str], prefixes: list[str]) -> list[int]:
    """Stage index of each name, in order (len(prefixes) for the post group)."""
    result, last = [], -1
    for name in names:
        hit = next(
            (i for i, p in enumerate(prefixes) if name == p or name.startswith(p + ".")), None
        )
        if hit is not None:
            last = hit
            result.append(hit)
        else:
            result.append(last + 1)
    return result


def count_stages(model: nn.Module) -> int:
    return len(stage_prefixes(model))


def _units(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Modules frozen or trained as a whole: leaves, and norm layers even when they hold an
    activation inside (timm's BatchNormAct2d)."""
    units: list[tuple[str, nn.Module]] = []
    for name, module in model.named_modules():
        if not name or any(name.startswith(u + ".") for u, _ in units[-1:]):
            continue
        if isinstance(module, norm_types()) or not any(module.children()):
            units.append((name, module))
    return units


def frozen_modules(model: nn.Module, strategy: str, trainable_stages: int = 0) -> set[str]:
    """Names of the units (leaf or norm modules) of a backbone that must not train."""
    if strategy not in FREEZE_STRATEGIES:
        raise ConfigError(
            f"unknown freeze strategy {strategy!r}; choose one of: " + ", ".join(FREEZE_STRATEGIES)
        )
    leaves = _units(model)
    if strategy == "full":
        return set()
    if strategy == "head":
        return {n for n, _ in leaves}
    if strategy == "bn_head":
        return {n for n, m in leaves if not isinstance(m, norm_types())}
    prefixes = stage_prefixes(model)
    if not 1 <= trainable_stages <= len(prefixes):
        raise ConfigError(f"trainable_stages must be 1..{len(prefixes)}, got {trainable_stages}")
    first = len(prefixes) - trainable_stages
    stages = stage_of([n for n, _ in leaves], prefixes)
    return {n for (n, _), s in zip(leaves, stages, strict=True) if s < first}


def apply_freeze(model: nn.Module, strategy: str, trainable_stages: int = 0) -> set[str]:
    """Set requires_grad on every backbone parameter; return the frozen unit names.

    Parameters owned directly by a container (a ViT's cls_token) follow their stage.
    """
    frozen = frozen_modules(model, strategy, trainable_stages)
    unit_names = {n for n, _ in _units(model)}
    names = [n for n, _ in model.named_parameters()]
    if strategy == "last_k":
        prefixes = stage_prefixes(model)
        first = len(prefixes) - trainable_stages
        direct = dict(zip(names, stage_of(names, prefixes), strict=True))
    for name, param in model.named_parameters():
        owner = name.rsplit(".", 1)[0] if "." in name else ""
        if owner in unit_names:
            param.requires_grad_(owner not in frozen)
        elif strategy == "last_k":
            param.requires_grad_(direct[name] >= first)
        else:
            param.requires_grad_(strategy == "full")
    return frozen


@cache
def backbone_stage_count(name: str) -> int:
    """Stages of a timm model, read off a weightless (meta-device) instance."""
    import timm
    import torch

    with torch.device("meta"):
        return count_stages(timm.create_model(name))
