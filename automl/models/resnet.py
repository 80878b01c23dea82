"""ResNet of 6n+2 layers for small images: He et al. 2016, "Deep Residual Learning for Image
Recognition", section 4.2 (CIFAR-10).

3x3 stem convolution with 16w filters -> 3 stages of n basic blocks with 16w, 32w and 64w
filters (w: width multiplier), the first convolution of stages 2 and 3 with stride 2 ->
global average pool -> linear. A basic block is conv-norm-ReLU-conv-norm plus the shortcut,
then ReLU; where the shape changes the shortcut is a 1x1 stride-2 convolution + norm (the
paper's option B). Depth 6n+2 counts the stem, the 6n block convolutions and the linear layer.

The normalisation is any name of `automl.nn.NORMS`, built by torch or by automl.nn
(`norm_impl`; batch_instance exists only in automl.nn, so it always uses it); `conv_impl`
likewise swaps torch's Conv2d for automl.nn's (same weights, slower on the CPU).

The config and the builder; the network (`ResNet`, with torch) is in resnet_net.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from automl.errors import ConfigError
from automl.models.registry import register_model
from automl.nn.norm_table import NORM_IMPLS, NORMS, norm_impls
from automl.registry import choose

if TYPE_CHECKING:
    from automl.models.resnet_net import ResNet

STAGE_FILTERS = (16, 32, 64)
CONV_IMPLS = ("torch", "automl")  # resnet_net.CONVS holds the classes


@dataclass(frozen=True)
class ResNetConfig:
    arch: ClassVar[str] = "resnet"
    n: int = 3  # basic blocks per stage: depth 6n+2 (n=3: ResNet-20)
    width: float = 1.0  # multiplies the 16/32/64 filters of the three stages
    norm: str = "batch"  # a name of automl.nn.NORMS: batch, instance, batch_instance, layer, ...
    norm_impl: str = "torch"  # torch | automl; batch_instance is always automl
    groups: int = 8  # group norm only: groups per norm layer
    conv_impl: str = "torch"  # torch | automl

    def __post_init__(self) -> None:
        choose(NORMS, self.norm, "normalisation")
        choose(dict.fromkeys(NORM_IMPLS), self.norm_impl, "normalisation implementation")
        choose(dict.fromkeys(CONV_IMPLS), self.conv_impl, "convolution implementation")
        if self.norm_impl not in norm_impls(self.norm):  # only automl.nn has it
            object.__setattr__(self, "norm_impl", norm_impls(self.norm)[0])
        if self.n < 1:
            raise ConfigError(f"n {self.n} must be at least 1 (depth 6n+2)")
        if self.width <= 0:
            raise ConfigError(f"width multiplier {self.width} must be positive")
        if self.norm == "group":
            bad = [f for f in self.filters() if f % self.groups]
            if self.groups < 1 or bad:
                raise ConfigError(
                    f"group norm with {self.groups} groups needs filter counts divisible by it; "
                    f"width {self.width} gives {self.filters()}"
                )

    @property
    def depth(self) -> int:
        return 6 * self.n + 2

    def filters(self) -> list[int]:
        return [max(1, round(f * self.width)) for f in STAGE_FILTERS]


@register_model("resnet", ResNetConfig)
def resnet(cfg: ResNetConfig, num_classes: int, in_chans: int = 3, resolution: int = 32) -> ResNet:
    """Any resolution works: the global average pool makes the head size-independent."""
    from automl.models.resnet_net import ResNet

    return ResNet(cfg, num_classes, in_chans)


def __getattr__(name: str) -> Any:  # the network's classes, with torch, when asked for
    if name in ("CONVS", "Projection", "BasicBlock", "ResNet"):
        from automl.models.resnet_net import CONVS, BasicBlock, Projection, ResNet

        return {
            "CONVS": CONVS,
            "Projection": Projection,
            "BasicBlock": BasicBlock,
            "ResNet": ResNet,
        }[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
