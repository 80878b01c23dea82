"""The network of `ResNetConfig` (resnet.py): built with torch, so loaded when a model is."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from automl.nn import Conv2d, get_norm

CONVS: dict[str, type[nn.Module]] = {"torch": nn.Conv2d, "automl": Conv2d}


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
    def __init__(self, c_in: int, c_out: int, stride: int, cfg: Any) -> None:
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
    def __init__(self, cfg: Any, num_classes: int, in_chans: int) -> None:
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
