from __future__ import annotations

import numpy as np
import pytest
import torch

from automl.data import stratified_split
from automl.errors import ConfigError, DataError

LABELS = np.repeat(np.arange(4), [50, 31, 12, 7])


def test_split_is_stratified_disjoint_and_complete() -> None:
    train, val = stratified_split(LABELS, val_fraction=0.25, seed=3)
    assert train.dtype == np.int64 and val.dtype == np.int64
    assert np.all(np.diff(train) > 0) and np.all(np.diff(val) > 0)  # sorted, no repeats
    assert np.intersect1d(train, val).size == 0
    assert np.array_equal(np.union1d(train, val), np.arange(len(LABELS)))
    expected = 0.25 * np.bincount(LABELS)
    assert np.all(np.abs(np.bincount(LABELS[val], minlength=4) - expected) <= 1)


def test_split_is_deterministic_per_seed() -> None:
    a = stratified_split(LABELS, seed=0)
    b = stratified_split(torch.from_numpy(LABELS), seed=0)
    c = stratified_split(LABELS, seed=1)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[1], c[1])


def test_tiny_classes_keep_one_sample_each_side() -> None:
    train, val = stratified_split([0, 0, 1, 1, 2, 2], val_fraction=0.2)
    assert sorted(np.array([0, 0, 1, 1, 2, 2])[val].tolist()) == [0, 1, 2]
    assert len(train) == 3


def test_singleton_class_is_a_data_error() -> None:
    with pytest.raises(DataError, match="class 'bees' has 1 image"):
        stratified_split([0, 0, 0, 1], classes=("ants", "bees"))
    with pytest.raises(DataError, match="class 1 has 1 image"):
        stratified_split([0, 0, 0, 1])


def test_bad_fraction_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="between 0 and 1"):
        stratified_split(LABELS, val_fraction=1.0)
