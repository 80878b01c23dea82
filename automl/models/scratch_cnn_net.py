"""The network of `ScratchCNNConfig` (scratch_cnn.py), with torch: it loads when a model is."""

from __future__ import annotations

from typing import Any

from torch import nn

from automl.models.layers import get_activation

MONOTONE = {"relu", "leaky_relu", "elu", "tanh"}  # non-decreasing activations


class ScratchCNN(nn.Module):
    def __init__(self, cfg: Any, num_classes: int, in_chans: int, resolution: int):
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_chans
        # max-pool commutes with a non-decreasing activation: pooling first gives the same
        # output with the activation on a quarter of the elements.
        pool_first = cfg.activation in MONOTONE
        for width in cfg.filters():
            conv = nn.Conv2d(
                channels,
                width,
                cfg.kernel_size,
                padding=cfg.kernel_size // 2,
                bias=not cfg.batch_norm,
            )
            norm = nn.BatchNorm2d(width) if cfg.batch_norm else nn.Identity()
            act, pool = get_activation(cfg.activation), nn.MaxPool2d(2, ceil_mode=True)
            layers += [conv, norm, *((pool, act) if pool_first else (act, pool))]
            channels = width
        self.features = nn.Sequential(*layers)
        side = cfg.output_side(resolution)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels * side * side, cfg.dense_units),
            get_activation(cfg.activation),
            nn.Dropout(cfg.dropout),
            nn.Linear(cfg.dense_units, num_classes),
        )

    def forward(self, x):
        return self.head(self.features(x))
