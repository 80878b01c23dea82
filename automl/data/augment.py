"""Batched GPU-friendly augmentation: per-sample random params, no loop over samples."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from automl.config import AUGMENTATIONS
from automl.registry import check_name

_CROP_SCALE = {"basic": (0.7, 1.0), "strong": (0.35, 1.0)}
_RATIO = (3 / 4, 4 / 3)
_JITTER = (0.6, 1.4)
_GRAY = (0.299, 0.587, 0.114)


def _uniform(
    n: int, low: float, high: float, generator: torch.Generator | None, like: torch.Tensor
) -> torch.Tensor:
    device = generator.device if generator is not None else like.device
    u = torch.rand(n, generator=generator, device=device)
    return (low + (high - low) * u).to(device=like.device, dtype=like.dtype)


def _flip_and_crop(
    x: torch.Tensor, scale: tuple[float, float], generator: torch.Generator | None
) -> torch.Tensor:
    """Random horizontal flip plus random-resized-crop back to the same H x W."""
    b = x.shape[0]
    area = _uniform(b, *scale, generator, x)
    log_ratio = _uniform(b, math.log(_RATIO[0]), math.log(_RATIO[1]), generator, x)
    ratio = torch.exp(log_ratio)
    w = torch.sqrt(area * ratio).clamp(max=1.0)  # crop width / image width
    h = torch.sqrt(area / ratio).clamp(max=1.0)
    cx = _uniform(b, -1.0, 1.0, generator, x) * (1.0 - w)  # centre in [-1, 1] coordinates
    cy = _uniform(b, -1.0, 1.0, generator, x) * (1.0 - h)
    flip = torch.where(_uniform(b, 0.0, 1.0, generator, x) < 0.5, -1.0, 1.0).to(x.dtype)
    theta = torch.zeros(b, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0] = w * flip
    theta[:, 0, 2] = cx
    theta[:, 1, 1] = h
    theta[:, 1, 2] = cy
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _gray(x: torch.Tensor) -> torch.Tensor:
    if x.shape[1] != 3:
        return x.mean(dim=1, keepdim=True)
    weights = torch.tensor(_GRAY, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * weights).sum(dim=1, keepdim=True)


def _color_jitter(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Brightness, contrast and saturation factors drawn per image from _JITTER."""
    b = x.shape[0]

    def factor() -> torch.Tensor:
        return _uniform(b, *_JITTER, generator, x).view(b, 1, 1, 1)

    x = (x * factor()).clamp(0.0, 1.0)
    mean = _gray(x).mean(dim=(1, 2, 3), keepdim=True)
    c = factor()
    x = (c * x + (1.0 - c) * mean).clamp(0.0, 1.0)
    if x.shape[1] > 1:
        s = factor()
        x = (s * x + (1.0 - s) * _gray(x)).clamp(0.0, 1.0)
    return x


def augment_batch(
    x: torch.Tensor, policy: str, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Augment float (B, C, H, W) in [0, 1] with `policy`; "none" returns `x` itself."""
    check_name(policy, AUGMENTATIONS, "augmentation")
    if policy == "none" or x.shape[0] == 0:
        return x
    out = _flip_and_crop(x, _CROP_SCALE[policy], generator)
    if policy == "strong":
        out = _color_jitter(out, generator)
    return out.clamp(0.0, 1.0)
