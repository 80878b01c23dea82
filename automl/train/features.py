"""Frozen backbones cost little: compute their features once, then train only the head on them.

Used when nothing below the head trains and augmentation is off, so every epoch would feed
the backbone the same pixels and get the same features back.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
from torch import nn

from automl.data import Batches
from automl.io import save_torch
from automl.train.memory_format import pays
from automl.train.precision import Precision

TRYING = (False, True, False, True)  # layouts of a choosing pass's first batches
WARMUP = 2  # of those, the first ones only warm up


@torch.no_grad()
def extract_features(
    backbone: nn.Module,
    images: torch.Tensor,
    mean: Sequence[float],
    std: Sequence[float],
    precision: Precision,
    batch_size: int = 64,
    channels_last: bool | None = True,
    timed: dict[str, float] | None = None,
) -> torch.Tensor:
    """Pooled features, float32 (N, F) on the CPU, of uint8 images.

    `channels_last` None: the pass chooses the layout itself, instead of a separate timing
    probe: its first batches (of at most 32 images) run in turn contiguous and channels_last,
    one of each to warm up and one of each timed (seconds per image into `timed`), the rest
    in the faster one (measure.MARGIN decides, as for a probe). No image runs twice.
    """
    backbone.eval()
    choosing = chose = channels_last is None
    if choosing:
        batch_size = min(batch_size, 32)
    labels = torch.zeros(len(images), dtype=torch.long)
    out = []
    batches = Batches(
        images,
        labels,
        batch_size,
        mean=mean,
        std=std,
        device=precision.device,
        channels_last=bool(channels_last),
    )
    seconds: dict[str, float] = {}
    for i, (x, _) in enumerate(batches):
        if choosing and i == len(TRYING):
            channels_last, choosing = pays(seconds), False
        layout = TRYING[i] if choosing else bool(channels_last)
        if chose and i <= len(TRYING):  # the layout may change: the weights' too
            fmt = torch.channels_last if layout else torch.contiguous_format
            backbone.to(memory_format=fmt)
            x = x.contiguous(memory_format=fmt)
        start = time.perf_counter()
        with precision.autocast():
            out.append(backbone(x).float().cpu())  # on the CPU: the device is done with it
        if choosing and i >= WARMUP:
            seconds["channels_last" if layout else "contiguous"] = (
                time.perf_counter() - start
            ) / len(x)
    if channels_last is None:  # too few batches to choose: the default layout
        backbone.to(memory_format=torch.contiguous_format)
    if timed is not None and {"contiguous", "channels_last"} <= seconds.keys():
        timed.update(seconds)
    return torch.cat(out)


class FeatureStore:
    """Features by (data, split, backbone + weights, resolution, normalisation): kept in memory
    and, with a `cache_dir`, on disk, so a resumed study does not recompute them either."""

    def __init__(self, cache_dir: Path | None = None, data_key: str = "") -> None:
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        self.data_key = data_key
        self._memo: dict[str, torch.Tensor] = {}

    def get(
        self,
        split: str,
        model: nn.Module,
        images: torch.Tensor,
        mean,
        std,
        precision: Precision,
        channels_last: bool | None = True,
        timed: dict[str, float] | None = None,
    ) -> torch.Tensor:
        """From memory, disk, or a pass over `images` (with `channels_last` None the pass
        chooses the layout and fills `timed`: extract_features)."""
        parts = [
            self.data_key,
            split,
            model.feature_key,
            str(tuple(images.shape)),
            str(tuple(mean)),
            str(tuple(std)),
            precision.name,
        ]
        key = hashlib.blake2b("|".join(parts).encode(), digest_size=12).hexdigest()
        if key in self._memo:
            return self._memo[key]
        path = None if self.cache_dir is None else self.cache_dir / f"features-{key}.pt"
        if path is not None and path.is_file():
            features = torch.load(path, weights_only=True)
        else:
            features = extract_features(
                model.backbone, images, mean, std, precision, channels_last=channels_last,
                timed=timed,
            )  # fmt: skip
            if path is not None:
                save_torch(path, features)
        self._memo[key] = features
        return features


class FeatureBatches:
    """(features, labels) mini-batches on a device; a new permutation per epoch if shuffling."""

    def __init__(
        self,
        features: torch.Tensor,
        labels: torch.Tensor,
        batch_size: int,
        *,
        device: torch.device,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
    ) -> None:
        self.features, self.labels = features.to(device), labels.to(device)
        self.batch_size, self.shuffle, self.generator = batch_size, shuffle, generator

    def __len__(self) -> int:
        return math.ceil(len(self.labels) / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.labels)
        order = (
            torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        ).to(self.features.device)
        for idx in order.split(self.batch_size):
            yield self.features[idx], self.labels[idx]
