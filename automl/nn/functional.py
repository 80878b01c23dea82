"""The functional forms, torch.nn.functional style: `from automl.nn import functional as F`."""

from automl.nn.batch_instance import batch_instance_norm
from automl.nn.blur import binomial_kernel, filter2d
from automl.nn.conv import conv2d
from automl.nn.norm import batch_norm, group_norm, instance_norm, layer_norm2d

__all__ = [
    "batch_instance_norm",
    "batch_norm",
    "binomial_kernel",
    "conv2d",
    "filter2d",
    "group_norm",
    "instance_norm",
    "layer_norm2d",
]
