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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from automl.errors import ConfigError
from automl.models.registry import register_model
from automl.nn import NORM_IMPLS, NORMS, Conv2d, get_norm, norm_impls
from automl.registry import choose

STAGE_FILTERS = (16, 32, 64)
CONVS: dict[str, type[nn.Module]] = {"torch": nn.Conv2d, "automl": Conv2d}


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
        choose(CONVS, self.conv_impl, "convolution implementation")
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


class Projection(nn.Module):
    """Option B shortcut: a 1x1 convolution with stride s, then the norm. Written as "keep
    every s-th pixel, then a 1x1 stride-1 convolution", which is the same map: torch 2.14's
    oneDNN kernel for channels_last 1x1 stride-2 convolutions with 8 input channels (width
    0.5) segfaults in backward on odd batch sizes (e.g. an epoch's last batch)."""

    def __init__(self, conv: nn.Module, norm: nn.Module, stride: int) -> None:
        super().__init__()
        self.conv, self.norm, self.stride = conv, norm, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        return self.norm(self.conv(x))


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, cfg: ResNetConfig) -> None:
        super().__init__()
        conv, bias = CONVS[cfg.conv_impl], cfg.norm == "none"

        def norm(c: int) -> nn.Module:
            return get_norm(cfg.norm, c, cfg.norm_impl, cfg.groups)

        self.conv1 = conv(c_in, c_out, 3, stride=stride, padding=1, bias=bias)
        self.norm1 = norm(c_out)
        self.conv2 = conv(c_out, c_out, 3, padding=1, bias=bias)
        self.norm2 = norm(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:  # option B: projection where the shape changes
            self.shortcut = Projection(conv(c_in, c_out, 1, bias=bias), norm(c_out), stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.norm1(self.conv1(x)))
        out = self.norm2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, cfg: ResNetConfig, num_classes: int, in_chans: int) -> None:
        super().__init__()
        widths = cfg.filters()
        conv = CONVS[cfg.conv_impl]
        self.stem = nn.Sequential(
            conv(in_chans, widths[0], 3, padding=1, bias=cfg.norm == "none"),
            get_norm(cfg.norm, widths[0], cfg.norm_impl, cfg.groups),
            nn.ReLU(inplace=True),
        )
        blocks, c_in = [], widths[0]
        for stage, c_out in enumerate(widths):
            for i in range(cfg.n):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(BasicBlock(c_in, c_out, stride, cfg))
                c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c_in, num_classes)
        for m in self.modules():  # He et al. 2015 init for the convolutions
            if isinstance(m, (nn.Conv2d, Conv2d)):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.stem(x))
        return self.fc(torch.flatten(self.pool(x), 1))


@register_model("resnet", ResNetConfig)
def resnet(cfg: ResNetConfig, num_classes: int, in_chans: int = 3, resolution: int = 32) -> ResNet:
    """Any resolution works: the global average pool makes the head size-independent."""
    return ResNet(cfg, num_classes, in_chans)
