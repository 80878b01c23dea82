"""Parameter and FLOP counts recorded with every trial."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


@torch.no_grad()
def count_flops(model: nn.Module, in_chans: int, resolution: int) -> int:
    """Forward FLOPs (a multiply-add counts 2) for one image, as torch's FlopCounterMode sees it."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with FlopCounterMode(display=False) as counter:
            model(torch.zeros(1, in_chans, resolution, resolution, device=device))
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())
