"""The 5-block CNN users hand-write: [conv -> (BN) -> activation -> max-pool] x 5, dense, output.

The config and its closed forms; the network (`ScratchCNN`, with torch) is in scratch_cnn_net.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from automl.errors import ConfigError
from automl.models.layers import ACTIVATIONS, get_activation
from automl.models.registry import register_model

if TYPE_CHECKING:
    from torch import nn

FILTER_ORGS = ("same", "double", "half")


@dataclass(frozen=True)
class ScratchCNNConfig:
    arch: ClassVar[str] = "scratch_cnn"
    closed_form: ClassVar[str] = (
        "conv 2k²Σ W²ᵢ₋₁ mᵢ₋₁ mᵢ (Wᵢ the side before block i's pool), dense 2D²m₅n, output "
        "2n·classes; parameters k²mᵢ₋₁mᵢ plus biases or batch-norm."
    )
    base_filters: int = 32
    filter_org: str = "same"  # same | double | half: how filters change from block to block
    kernel_size: int = 3
    activation: str = "relu"
    batch_norm: bool = True
    dropout: float = 0.0
    dense_units: int = 128
    blocks: int = 5
    min_filters: int = 8  # sane bounds that "double" and "half" are clipped to
    max_filters: int = 512

    def __post_init__(self) -> None:
        if self.filter_org not in FILTER_ORGS:
            raise ConfigError(
                f"unknown filter organisation {self.filter_org!r}; choose one of: "
                + ", ".join(FILTER_ORGS)
            )
        if self.activation not in ACTIVATIONS:
            get_activation(self.activation)  # raises with the valid names
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout {self.dropout} is outside [0, 1)")
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ConfigError(f"kernel size {self.kernel_size} must be odd and positive")

    def filters(self) -> list[int]:
        factor = {"same": 1.0, "double": 2.0, "half": 0.5}[self.filter_org]
        return [
            int(min(self.max_filters, max(self.min_filters, round(self.base_filters * factor**i))))
            for i in range(self.blocks)
        ]

    def output_side(self, resolution: int) -> int:
        """The feature map's side after the last block's pool."""
        return output_size(resolution, self.blocks)

    def closed_form_size(self, in_chans: int, resolution: int, num_classes: int) -> tuple[int, int]:
        """(parameters, forward FLOPs of one image) by formula, checked against the counts."""
        return (
            closed_form_params(self, in_chans, resolution, num_classes),
            closed_form_flops(self, in_chans, resolution, num_classes),
        )


def output_size(resolution: int, blocks: int) -> int:
    """Spatial size after `blocks` 2x2 max-pools with ceil_mode (never below 1)."""
    size = resolution
    for _ in range(blocks):
        size = -(-size // 2)
    return size


def closed_form_flops(
    cfg: ScratchCNNConfig, in_chans: int, resolution: int, num_classes: int
) -> int:
    """conv: 2 k^2 sum_i W_{i-1}^2 m_{i-1} m_i (same padding, then a 2x2 ceil pool halves W);
    dense: 2 D^2 m_5 n; output: 2 n classes. A multiply-add counts 2; biases, norms,
    activations and pools are not counted (as torch's FlopCounterMode does)."""
    k, widths = cfg.kernel_size, [in_chans, *cfg.filters()]
    side, conv = resolution, 0
    for m_prev, m in zip(widths, widths[1:], strict=False):
        conv += 2 * k * k * side * side * m_prev * m
        side = -(-side // 2)
    d = output_size(resolution, cfg.blocks)
    return conv + 2 * d * d * widths[-1] * cfg.dense_units + 2 * cfg.dense_units * num_classes


def closed_form_params(
    cfg: ScratchCNNConfig, in_chans: int, resolution: int, num_classes: int
) -> int:
    """Weights k^2 m_{i-1} m_i plus bias (no BN) or BN scale+shift, dense and output layers."""
    k, widths = cfg.kernel_size, [in_chans, *cfg.filters()]
    conv = sum(
        k * k * a * b + (2 * b if cfg.batch_norm else b)
        for a, b in zip(widths, widths[1:], strict=False)
    )
    d, n = output_size(resolution, cfg.blocks), cfg.dense_units
    return conv + (d * d * widths[-1] + 1) * n + (n + 1) * num_classes


@register_model("scratch_cnn", ScratchCNNConfig)
def scratch_cnn(
    cfg: ScratchCNNConfig, num_classes: int, in_chans: int = 3, resolution: int = 32
) -> nn.Module:
    from automl.models.scratch_cnn_net import ScratchCNN

    return ScratchCNN(cfg, num_classes, in_chans, resolution)


def __getattr__(name: str) -> Any:  # the network class, with torch, when it is asked for
    if name == "ScratchCNN":
        from automl.models.scratch_cnn_net import ScratchCNN

        return ScratchCNN
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
