"""The module an exported file holds: uint8 RGB pixels in, class probabilities out.

Input (N, R, R, 3) uint8, RGB, at the model's resolution: what `numpy.asarray(PIL image)`
gives. Inside the graph: to channels-first floats, to gray (ITU-R 601 luma, rounded as
automl's own decoder does) for 1-channel models, the training normalisation, the network,
softmax. The network's automl.nn layers are swapped for torch's twins (automl/nn/convert.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from automl.nn.convert import to_torch_layers

LUMA = (0.299, 0.587, 0.114)


class Standalone(nn.Module):
    def __init__(
        self, model: nn.Module, mean: Sequence[float], std: Sequence[float], in_chans: int
    ) -> None:
        super().__init__()
        plain = to_torch_layers(model)  # contiguous: exporters save weights as dense tensors
        self.model = plain.to("cpu", torch.float32, memory_format=torch.contiguous_format).eval()
        self.in_chans = in_chans
        shape = (1, -1, 1, 1)
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32).view(shape))
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32).view(shape))
        self.register_buffer("luma", torch.tensor(LUMA).view(1, 3, 1, 1))
        self.eval()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.permute(0, 3, 1, 2).float()
        if self.in_chans == 1:
            x = (x * self.luma).sum(1, keepdim=True).round().clamp(0, 255)
        x = (x / 255.0 - self.mean) / self.std
        return self.model(x).float().softmax(1)


def example_input(resolution: int, batch: int = 2) -> torch.Tensor:
    """A batch of the input an exported file takes (random pixels)."""
    generator = torch.Generator().manual_seed(0)
    shape = (batch, resolution, resolution, 3)
    return torch.randint(0, 256, shape, dtype=torch.uint8, generator=generator)
