"""Mini-batches straight from the uint8 tensor cache: index, move, augment, normalise."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import torch

from automl.config import AUGMENTATIONS
from automl.data.augment import augment_batch
from automl.errors import ConfigError

_STD_FLOOR = 1e-3
_CHUNK_ELEMENTS = 1 << 22


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel (mean, std) of uint8 (N, C, H, W) in [0, 1] units, chunk by chunk."""
    n, c = images.shape[:2]
    per_image = max(1, images[0].numel()) if n else 1
    step = max(1, _CHUNK_ELEMENTS // per_image)
    total = torch.zeros(c, dtype=torch.float64)
    squares = torch.zeros(c, dtype=torch.float64)
    for start in range(0, n, step):
        chunk = images[start : start + step].to(torch.float64)
        total += chunk.sum(dim=(0, 2, 3))
        squares += chunk.square().sum(dim=(0, 2, 3))
    count = max(1, n * images.shape[2] * images.shape[3])
    mean = total / count / 255.0
    var = (squares / count / 255.0**2 - mean.square()).clamp(min=0.0)
    std = var.sqrt().clamp(min=_STD_FLOOR)
    return tuple(mean.tolist()), tuple(std.tolist())


class Batches:
    """Iterable of (x float (B, C, R, R) normalised, y int64 (B,)) on `device`; one epoch each."""

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        batch_size: int,
        *,
        mean: Sequence[float],
        std: Sequence[float],
        device: torch.device | str = "cpu",
        shuffle: bool = False,
        augment: str = "none",
        generator: torch.Generator | None = None,
        channels_last: bool = True,
    ) -> None:
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        if batch_size < 1:
            raise ConfigError(f"batch size {batch_size} must be at least 1")
        if augment not in AUGMENTATIONS:
            raise ConfigError(
                f"unknown augmentation {augment!r}; choose one of: {', '.join(AUGMENTATIONS)}"
            )
        self.images, self.labels = images, labels.to(torch.int64)
        self.batch_size, self.shuffle, self.augment = batch_size, shuffle, augment
        self.generator, self.channels_last = generator, channels_last
        self.device = torch.device(device)
        shape = (1, -1, 1, 1)
        self.mean = torch.tensor(mean, dtype=torch.float32, device=self.device).view(shape)
        self.std = torch.tensor(std, dtype=torch.float32, device=self.device).view(shape)

    def _count(self) -> int:
        """Samples used per epoch: a final batch of 1 is dropped when shuffling (BatchNorm)."""
        n = len(self.images)
        if self.shuffle and self.batch_size > 1 and n % self.batch_size == 1:
            return n - 1
        return n

    def __len__(self) -> int:
        return math.ceil(self._count() / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.images)
        order = None
        if self.shuffle:
            device = self.generator.device if self.generator is not None else "cpu"
            order = torch.randperm(n, generator=self.generator, device=device).cpu()
        pin = self.device.type == "cuda"
        for start in range(0, self._count(), self.batch_size):
            stop = min(start + self.batch_size, n)
            if order is None:
                xb, yb = self.images[start:stop], self.labels[start:stop]
            else:
                idx = order[start:stop]
                xb, yb = self.images[idx], self.labels[idx]
            if pin:
                xb = xb.pin_memory()
            x = xb.to(self.device, non_blocking=pin).float().div_(255.0)
            if self.augment != "none":
                x = augment_batch(x, self.augment, self.generator)
            x = (x - self.mean) / self.std
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, yb.to(self.device)
