"""automl.nn layers -> torch's own, for export: same weights, standard ops in the graph.

`Conv2d`'s backward is a custom autograd Function that exporters cannot trace; the norms
trace, but torch's versions export as single standard ops (ONNX BatchNormalization,
InstanceNormalization, GroupNormalization) that runtimes fuse. `BatchInstanceNorm2d` has no
torch twin and exports through its own forward (plain tensor ops in eval mode).
"""

from __future__ import annotations

import copy
from collections.abc import Callable

from torch import nn

from automl.nn.conv import Conv2d
from automl.nn.norm import BatchNorm2d, GroupNorm, InstanceNorm2d


def _conv(m: Conv2d) -> nn.Module:
    return nn.Conv2d(
        m.in_channels,
        m.out_channels,
        m.kernel_size,
        m.stride,
        m.padding,
        m.dilation,
        m.groups,
        bias=m.bias is not None,
    )


def _batch(m: BatchNorm2d) -> nn.Module:
    return nn.BatchNorm2d(
        m.num_features, m.eps, m.momentum, m.affine, track_running_stats=m.track_running_stats
    )


def _instance(m: InstanceNorm2d) -> nn.Module:
    return nn.InstanceNorm2d(
        m.num_features, m.eps, m.momentum, m.affine, track_running_stats=m.track_running_stats
    )


def _group(m: GroupNorm) -> nn.Module:  # LayerNorm2d is GroupNorm(1, C)
    return nn.GroupNorm(m.num_groups, m.num_channels, m.eps, m.affine)


TORCH_TWINS: dict[type, Callable[[nn.Module], nn.Module]] = {
    Conv2d: _conv,
    BatchNorm2d: _batch,
    InstanceNorm2d: _instance,
    GroupNorm: _group,
}


def _twin(module: nn.Module) -> nn.Module | None:
    make = next((f for cls, f in TORCH_TWINS.items() if isinstance(module, cls)), None)
    if make is None:
        return None
    twin = make(module)
    twin.load_state_dict(module.state_dict())
    return twin.train(module.training)


def to_torch_layers(model: nn.Module) -> nn.Module:
    """A copy of `model` with every automl.nn layer that has a torch twin replaced by it,
    carrying the same parameters and buffers; the original is left as it was."""
    model = copy.deepcopy(model)
    top = _twin(model)
    if top is not None:  # a bare layer
        return top
    for name, module in list(model.named_modules()):
        twin = _twin(module) if name else None
        if twin is not None:
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent), child, twin)
    return model
