"""Normalisation by name, from torch or from automl.nn: the table the resnet model builds from.

`get_norm("group", 64, impl="automl", groups=8)` -> automl.nn.GroupNorm(8, 64). Each entry
makes the same layer two ways; "batch_instance" exists only in automl.nn. Instance norm is
affine and uses per-image statistics in eval too (torch's default, no running buffers); layer
norm is over (C, H, W) with a per-channel affine, i.e. GroupNorm(1, C).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING

from automl.registry import choose

if TYPE_CHECKING:
    from torch import nn

NormFactory = Callable[[int, int], "nn.Module"]  # (channels, groups) -> module
NORM_IMPLS = ("torch", "automl")

# name -> the implementations it has; the layers themselves (and torch) load when one is made
NORMS: dict[str, tuple[str, ...]] = {
    "batch": NORM_IMPLS,
    "instance": NORM_IMPLS,
    "batch_instance": ("automl",),
    "layer": NORM_IMPLS,
    "group": NORM_IMPLS,
    "none": NORM_IMPLS,
}


@cache
def factories() -> dict[str, dict[str, NormFactory]]:
    """name -> implementation -> how it makes the layer; the same names as NORMS."""
    from torch import nn

    from automl.nn.batch_instance import BatchInstanceNorm2d
    from automl.nn.norm import BatchNorm2d, GroupNorm, InstanceNorm2d, LayerNorm2d

    return {
        "batch": {
            "torch": lambda c, g: nn.BatchNorm2d(c),
            "automl": lambda c, g: BatchNorm2d(c),
        },
        "instance": {
            "torch": lambda c, g: nn.InstanceNorm2d(c, affine=True),
            "automl": lambda c, g: InstanceNorm2d(c, affine=True),
        },
        "batch_instance": {
            "automl": lambda c, g: BatchInstanceNorm2d(c),
        },
        "layer": {
            "torch": lambda c, g: nn.GroupNorm(1, c),
            "automl": lambda c, g: LayerNorm2d(c),
        },
        "group": {
            "torch": lambda c, g: nn.GroupNorm(g, c),
            "automl": lambda c, g: GroupNorm(g, c),
        },
        "none": {
            "torch": lambda c, g: nn.Identity(),
            "automl": lambda c, g: nn.Identity(),
        },
    }


def norm_impls(name: str) -> list[str]:
    """The implementations `name` has, torch first."""
    return [impl for impl in NORM_IMPLS if impl in choose(NORMS, name, "normalisation")]


def get_norm(name: str, channels: int, impl: str = "torch", groups: int = 8) -> nn.Module:
    """A fresh normalisation layer over `channels`; `groups` matters for "group" only."""
    choose(NORMS, name, "normalisation")
    choose(dict.fromkeys(NORM_IMPLS), impl, "normalisation implementation")
    factory = choose(factories()[name], impl, f"implementation of {name!r} normalisation")
    return factory(channels, groups)
