"""Model size of the best config: counted parameters and FLOPs next to the 5-block closed form."""

from __future__ import annotations

from dataclasses import dataclass

from automl.models.flops import count_flops, count_params
from automl.models.scratch_cnn import ScratchCNNConfig, output_size


@dataclass(frozen=True)
class ModelSize:
    arch: str
    params: int  # counted on the built model
    flops: int  # forward FLOPs of one image, counted by torch's FlopCounterMode
    closed_params: int | None  # closed form, 5-block CNN only
    closed_flops: int | None

    @property
    def agrees(self) -> bool | None:
        if self.closed_flops is None:
            return None
        return self.closed_flops == self.flops and self.closed_params == self.params


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


def model_size(cfg, model, in_chans: int, resolution: int, num_classes: int) -> ModelSize:
    """`cfg` is the model config (e.g. ScratchCNNConfig) `model` was built from."""
    closed = isinstance(cfg, ScratchCNNConfig)
    return ModelSize(
        arch=getattr(cfg, "arch", type(model).__name__),
        params=count_params(model),
        flops=count_flops(model, in_chans, resolution),
        closed_params=closed_form_params(cfg, in_chans, resolution, num_classes)
        if closed
        else None,
        closed_flops=closed_form_flops(cfg, in_chans, resolution, num_classes) if closed else None,
    )
