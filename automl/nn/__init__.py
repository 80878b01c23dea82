"""Convolution and normalisation layers written from tensor operations, torch-compatible.

Same constructor arguments, parameter and buffer names and shapes as torch's layers (a state
dict moves between the two), checked against torch's forward, gradients and running statistics
by tests/nn. See docs/nn.md for each layer and its reference.

    from automl.nn import Conv2d, BatchInstanceNorm2d, get_norm
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Names load on first use: the name tables (NORMS, NORM_IMPLS) need no torch.
_WHERE = {
    "functional": "automl.nn.functional",
    "BatchInstanceNorm2d": "automl.nn.batch_instance",
    "Blur2d": "automl.nn.blur",
    "Conv2d": "automl.nn.conv",
    **dict.fromkeys(
        ["BatchNorm2d", "GroupNorm", "InstanceNorm2d", "LayerNorm2d"], "automl.nn.norm"
    ),
    **dict.fromkeys(["NORM_IMPLS", "NORMS", "get_norm", "norm_impls"], "automl.nn.norm_table"),
}

__all__ = [
    "NORMS",
    "NORM_IMPLS",
    "BatchInstanceNorm2d",
    "BatchNorm2d",
    "Blur2d",
    "Conv2d",
    "GroupNorm",
    "InstanceNorm2d",
    "LayerNorm2d",
    "functional",
    "get_norm",
    "norm_impls",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(_WHERE[name])
    return module if name == "functional" else getattr(module, name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


if TYPE_CHECKING:
    from automl.nn import functional
    from automl.nn.batch_instance import BatchInstanceNorm2d
    from automl.nn.blur import Blur2d
    from automl.nn.conv import Conv2d
    from automl.nn.norm import BatchNorm2d, GroupNorm, InstanceNorm2d, LayerNorm2d
    from automl.nn.norm_table import NORM_IMPLS, NORMS, get_norm, norm_impls
