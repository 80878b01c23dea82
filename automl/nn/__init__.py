"""Convolution and normalisation layers written from tensor operations, torch-compatible.

Same constructor arguments, parameter and buffer names and shapes as torch's layers (a state
dict moves between the two), checked against torch's forward, gradients and running statistics
by tests/nn. See docs/nn.md for each layer and its reference.

    from automl.nn import Conv2d, BatchInstanceNorm2d, get_norm
"""

from automl.nn import functional
from automl.nn.batch_instance import BatchInstanceNorm2d
from automl.nn.blur import Blur2d
from automl.nn.conv import Conv2d
from automl.nn.norm import BatchNorm2d, GroupNorm, InstanceNorm2d, LayerNorm2d
from automl.nn.norm_table import NORM_IMPLS, NORMS, get_norm, norm_impls

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
