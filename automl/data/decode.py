"""Decode one image file to a uint8 RGB tensor, and squash it to a square resolution."""

from __future__ import annotations

import logging
import platform
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

logger = logging.getLogger(__name__)


def _decode_pil(path: Path) -> torch.Tensor | None:
    try:
        with Image.open(path) as im:
            rgb = ImageOps.exif_transpose(im).convert("RGB")
        return torch.from_numpy(np.array(rgb, dtype=np.uint8)).permute(2, 0, 1).contiguous()
    except Exception as exc:  # any unreadable file is skipped, never fatal
        logger.debug("PIL cannot decode %s: %s", path, exc)
        return None


REDUCE = 2  # a JPEG at least this many times the target on both sides decodes reduced


def _decode_reduced(path: Path, at_least: int) -> torch.Tensor | None:
    """A JPEG decoded at 1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling), still at least
    `at_least` px on both sides; None when the file is not a JPEG that large."""
    try:
        with Image.open(path) as im:
            if im.format != "JPEG" or min(im.size) < REDUCE * at_least:
                return None
            im.draft("RGB", (at_least, at_least))
            rgb = ImageOps.exif_transpose(im).convert("RGB")
        return torch.from_numpy(np.array(rgb, dtype=np.uint8)).permute(2, 0, 1).contiguous()
    except Exception as exc:
        logger.debug("no reduced decode of %s: %s", path, exc)
        return None


def decode_file(path: Path, at_least: int | None = None) -> torch.Tensor | None:
    """Return uint8 RGB (3, H, W), or None when the file is not a readable image. With
    `at_least`, a large JPEG may come decoded at a reduced size, never under that on a side."""
    if at_least is not None:
        img = _decode_reduced(path, at_least)
        if img is not None:
            return img
    from torchvision.io import ImageReadMode, decode_image  # torchvision's import costs ~1 s

    try:
        img = decode_image(str(path), mode=ImageReadMode.RGB, apply_exif_orientation=True)
    except Exception as exc:
        logger.debug("torchvision cannot decode %s (%s); trying PIL", path, exc)
        img = _decode_pil(path)
    if img is None:
        return None
    if img.ndim == 4:  # animated GIF: keep the first frame
        img = img[0]
    if img.ndim != 3 or img.shape[0] != 3 or img.shape[1] == 0 or img.shape[2] == 0:
        return None
    return img.to(torch.uint8)


def _native_uint8_bilinear(device: torch.device) -> bool:
    """Whether torch resizes uint8 bilinearly without a float copy here (torchvision's test)."""
    return device.type == "cpu" and (
        torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512")
        or platform.machine() in ("aarch64", "arm64")
    )


def resize_square(img: torch.Tensor, resolution: int) -> torch.Tensor:
    """Squash uint8 (..., C, H, W) to (..., C, R, R): the whole image, no crop.

    The very computation of torchvision's `transforms.v2.functional.resize(img, [R, R],
    antialias=True)` (bilinear; uint8 natively where torch's kernel takes it, else through
    float32 and rounded back), without importing torchvision (~1 s)."""
    shape, numel = img.shape, img.numel()
    channels, height, width = shape[-3:]
    if (height, width) == (resolution, resolution):
        return img
    out_shape = shape[:-3] + (channels, resolution, resolution)
    if numel == 0:
        return img.reshape(out_shape)
    x = img.reshape(-1, channels, height, width)
    strides = list(x.stride())
    if x.is_contiguous(memory_format=torch.channels_last) and len(x) == 1 and numel != strides[0]:
        strides[0] = numel  # so that torch allocates the output channels_last too
        x = x.as_strided(x.shape, strides)
    cast = x.dtype not in (torch.float32, torch.float64) and not (
        x.dtype == torch.uint8 and _native_uint8_bilinear(x.device)
    )
    out = F.interpolate(
        x.to(torch.float32) if cast else x,
        size=[resolution, resolution],
        mode="bilinear",
        align_corners=False,
        antialias=True,
    )
    if cast:
        if x.dtype in (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64):
            out = out.round_()
        out = out.to(x.dtype)
    return out.reshape(out_shape)


SHRINK_CHUNK = 256  # images resized at a time


def shrink(images: torch.Tensor, resolution: int) -> torch.Tensor:
    """uint8 (N, C, R0, R0) resized to (N, C, R, R), antialiased, a chunk at a time."""
    out = torch.empty((len(images), images.shape[1], resolution, resolution), dtype=torch.uint8)
    for start in range(0, len(images), SHRINK_CHUNK):
        out[start : start + SHRINK_CHUNK] = resize_square(
            images[start : start + SHRINK_CHUNK], resolution
        )
    return out
