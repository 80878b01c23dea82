"""Deterministic stratified train/validation split of the training pool."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from automl.errors import ConfigError, DataError


def stratified_split(
    labels: np.ndarray | torch.Tensor | Sequence[int],
    val_fraction: float = 0.2,
    seed: int = 0,
    *,
    classes: Sequence[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted int64 (train_idx, val_idx): disjoint, covering all, stratified by label.

    Every class gets at least one sample on each side, so tiny datasets never fail inside
    sklearn. `classes` (optional) only makes error messages name classes instead of labels.
    """
    from sklearn.model_selection import train_test_split

    if not 0.0 < val_fraction < 1.0:
        raise ConfigError(f"validation fraction {val_fraction} must be strictly between 0 and 1")
    y = labels.cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    y = y.astype(np.int64).reshape(-1)
    values, counts = np.unique(y, return_counts=True)
    for value, count in zip(values.tolist(), counts.tolist(), strict=True):
        if count < 2:
            name = repr(classes[value]) if classes is not None else str(value)
            raise DataError(
                f"class {name} has {count} image; need at least 2 to split off a validation set"
            )
    n, k = len(y), len(values)
    n_val = min(max(math.ceil(val_fraction * n), k), n - k)
    train, val = train_test_split(
        np.arange(n, dtype=np.int64), test_size=n_val, stratify=y, random_state=seed
    )
    return np.sort(train).astype(np.int64), np.sort(val).astype(np.int64)
