"""Model size of the best config: counted parameters and FLOPs, next to the model's own
closed form when its config offers one (`closed_form_size`, see automl/models/interface.py)."""

from __future__ import annotations

from dataclasses import dataclass

from automl.models.flops import count_flops, count_params
from automl.models.interface import SizedConfig


@dataclass(frozen=True)
class ModelSize:
    arch: str
    params: int  # counted on the built model
    flops: int  # forward FLOPs of one image, counted by torch's FlopCounterMode
    closed_params: int | None  # by the model's formula, when it has one
    closed_flops: int | None

    @property
    def agrees(self) -> bool | None:
        if self.closed_flops is None:
            return None
        return self.closed_flops == self.flops and self.closed_params == self.params


def model_size(cfg, model, in_chans: int, resolution: int, num_classes: int) -> ModelSize:
    """`cfg` is the model config (e.g. ScratchCNNConfig) `model` was built from."""
    closed = (None, None)
    if isinstance(cfg, SizedConfig):
        closed = cfg.closed_form_size(in_chans, resolution, num_classes)
    return ModelSize(
        arch=cfg.arch,
        params=count_params(model),
        flops=count_flops(model, in_chans, resolution),
        closed_params=closed[0],
        closed_flops=closed[1],
    )
