"""The study's images: decoded once at the largest resolution its trials ask for, the rows
`--dedupe` leaves out taken away (here only), the rest split into train and validation."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from automl.data import DataSource, stratified_split

VAL_FRACTION = 0.2


class TrainingPool(NamedTuple):
    """The training images a study uses, and each one's row in the source's whole pool
    (the rows that the study's validation indices and `--dedupe`'s exclusions name)."""

    images: torch.Tensor
    labels: torch.Tensor
    rows: np.ndarray


def training_pool(
    source: DataSource,
    resolution: int,
    cache_dir: Path,
    decode_base: int | None,
    excluded: Sequence[int],
) -> TrainingPool:
    """The source's training pool at `resolution`, without the rows `--dedupe` left out."""
    pool = source.train_pool(resolution, cache_dir, decode_base)
    rows = np.arange(len(pool.labels))
    if not len(excluded):
        return TrainingPool(pool.images, pool.labels, rows)
    rows = np.setdiff1d(rows, np.asarray(excluded, dtype=np.int64))
    keep = torch.from_numpy(rows)
    return TrainingPool(pool.images[keep], pool.labels[keep], rows)


def validation_rows(pool: TrainingPool, seed: int, classes: Sequence[str]) -> list[int]:
    """The pool rows held out for validation: a stratified fifth, fixed for the study."""
    _, val_idx = stratified_split(pool.labels.numpy(), VAL_FRACTION, seed, classes=classes)
    return [int(i) for i in pool.rows[val_idx]]
