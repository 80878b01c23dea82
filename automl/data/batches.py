"""Mini-batches straight from the uint8 tensor cache: index, move, augment, normalise."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import torch

from automl.config import check_batching
from automl.data.augment import augment_batch

_STD_FLOOR = 1e-3
_CHUNK_ELEMENTS = 1 << 22
RESIDENT_SHARE = 0.25  # of the device's free memory a uint8 training pool may occupy


def pool_fits(nbytes: int, device: torch.device | str, free: int | None = None) -> bool:
    """Whether a pool of `nbytes` may live on `device` (CUDA: within RESIDENT_SHARE of its
    free memory, `free` when given); host memory always holds it already."""
    device = torch.device(device)
    if device.type != "cuda":
        return True
    if free is None:
        free = torch.cuda.mem_get_info(device)[0]
    return nbytes <= RESIDENT_SHARE * free


def to_device_if_fits(
    images: torch.Tensor, labels: torch.Tensor, device: torch.device | str
) -> tuple[torch.Tensor, torch.Tensor]:
    """The uint8 pool moved to `device` once when it fits there, so that batches are indexed
    and augmented on the device with no copy per batch; else left where it is."""
    device = torch.device(device)
    if images.device == device or not pool_fits(images.numel() * images.element_size(), device):
        return images, labels
    return images.to(device), labels.to(device)


class _Staging:
    """The path for a pool that does not fit on the device: one pinned host buffer, reused
    batch after batch (the copy of one batch to the device ends before the next is written
    into it), instead of pinning fresh memory for every batch."""

    def __init__(self, images: torch.Tensor, batch_size: int, device: torch.device) -> None:
        pin = device.type == "cuda"
        shape = (min(batch_size, len(images)), *images.shape[1:])
        self.buffer = torch.empty(shape, dtype=images.dtype, pin_memory=pin)
        self.device, self.pin, self.copied = device, pin, None

    def send(self, images: torch.Tensor, rows: torch.Tensor | slice) -> torch.Tensor:
        if self.copied is not None:
            self.copied.synchronize()
        if isinstance(rows, slice):
            out = self.buffer[: rows.stop - rows.start]
            out.copy_(images[rows])
        else:
            out = self.buffer[: len(rows)]
            torch.index_select(images, 0, rows, out=out)
        x = out.to(self.device, non_blocking=self.pin, copy=True)  # never the buffer itself
        if self.pin:
            self.copied = torch.cuda.Event()
            self.copied.record()
        return x


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel (mean, std) of uint8 (N, C, H, W) in [0, 1] units, chunk by chunk."""
    n, c = images.shape[:2]
    per_image = max(1, images[0].numel()) if n else 1
    step = max(1, _CHUNK_ELEMENTS // per_image)
    total = torch.zeros(c, dtype=torch.float64, device=images.device)
    squares = torch.zeros(c, dtype=torch.float64, device=images.device)
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
    """Iterable of (x float (B, C, R, R) normalised, y int64 (B,)) on `device`; one epoch each.

    Images already on `device` (the CPU, or a pool `to_device_if_fits` moved to the GPU) are
    indexed there; others go through one reused pinned buffer.
    """

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
        check_batching(batch_size, augment)
        self.images = images
        self.labels = labels.to(device=images.device, dtype=torch.int64)
        self.batch_size, self.shuffle, self.augment = batch_size, shuffle, augment
        self.generator, self.channels_last = generator, channels_last
        self.device = torch.device(device)
        self.resident = _same_device(images.device, self.device)
        self.staging = None if self.resident else _Staging(images, batch_size, self.device)
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
            order = torch.randperm(n, generator=self.generator, device=device)
            order = order.to(self.images.device)
        for start in range(0, self._count(), self.batch_size):
            stop = min(start + self.batch_size, n)
            rows = slice(start, stop) if order is None else order[start:stop]
            xb = self.images[rows] if self.staging is None else self.staging.send(self.images, rows)
            x = xb.to(self.device).float().div_(255.0)
            if self.augment != "none":
                x = augment_batch(x, self.augment, self.generator)
            x = (x - self.mean) / self.std
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, self.labels[rows].to(self.device)


def _same_device(a: torch.device, b: torch.device) -> bool:
    if a.type != b.type:
        return False
    if a.type != "cuda":
        return True
    current = torch.cuda.current_device()
    return (a.index if a.index is not None else current) == (
        b.index if b.index is not None else current
    )
