"""Frozen backbones cost little: compute their features once, then train only the head on them.

Used when nothing below the head trains and augmentation is off, so every epoch would feed
the backbone the same pixels and get the same features back.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import torch
from torch import nn

from automl.data import Batches
from automl.io import save_torch
from automl.train.memory_format import LayoutChoice, to_layout
from automl.train.precision import Precision


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
    in the faster one (memory_format.LayoutChoice). No image runs twice.
    """
    backbone.eval()
    choice = LayoutChoice() if channels_last is None else None
    if choice is not None:
        batch_size = min(batch_size, 32)
    labels = torch.zeros(len(images), dtype=torch.long)
    out = []
    batches: Iterable = Batches(
        images,
        labels,
        batch_size,
        mean=mean,
        std=std,
        device=precision.device,
        channels_last=bool(channels_last),
    )
    if choice is not None:
        batches = choice.batches(batches, backbone, precision.device)
    for x, _ in batches:
        with precision.autocast():
            out.append(backbone(x).float().cpu())  # on the CPU: the device is done with it
    if choice is not None and choice.channels_last is None:  # too few batches to choose
        to_layout(backbone, False)  # the default layout
    if timed is not None and choice is not None and choice.measured:
        timed.update(choice.seconds)
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
