"""`--cv K`: the training pool cut into K stratified folds, fixed for the study.

A trial trains its configuration K times, each time validating on one fold and training on
the other K - 1; its value is the mean of the K validation accuracies. The pool is decoded
once (the same cache as the 80/20 split) and a frozen backbone's features are computed once
over the whole pool, each fold taking its rows of them.

The pruner sees the first fold's epochs only: every trial reports them at the same steps, so
it compares like with like, and a trial that survives them runs its other folds unpruned.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import optuna
import torch

from automl.data import to_device_if_fits
from automl.errors import ConfigError
from automl.study.record import TrialRecord
from automl.study.split import TrainingPool
from automl.train.features import FeatureStore
from automl.train.precision import Precision

Split = tuple[torch.Tensor, torch.Tensor]


def fold_rows(pool: TrainingPool, cv: int, seed: int, classes: Sequence[str]) -> list[list[int]]:
    """The pool rows each of `cv` folds validates on: stratified by class, disjoint, covering
    the pool, the same for the same pool and seed. A class with fewer images than folds is
    refused (a fold would hold none of it)."""
    from sklearn.model_selection import StratifiedKFold

    labels = pool.labels.numpy()
    counts = np.bincount(labels, minlength=len(classes))
    present = np.flatnonzero(counts)
    smallest = int(present[np.argmin(counts[present])])
    if counts[smallest] < cv:
        raise ConfigError(
            f"{cv} folds (--cv) need at least {cv} training images in every class; class "
            f"{classes[smallest]!r} has {counts[smallest]}: pass a smaller --cv, or leave it out"
        )
    folds = StratifiedKFold(n_splits=cv, shuffle=True, random_state=seed)
    return [
        sorted(int(r) for r in pool.rows[val_idx])
        for _, val_idx in folds.split(np.zeros(len(labels)), labels)
    ]


class FoldFeatures:
    """One fold's view of a frozen backbone's features, computed once over the whole pool
    (through the study's FeatureStore, so kept across trials and on disk): `fit` asks for
    "train" and "val" and gets this fold's rows of them."""

    def __init__(self, store: FeatureStore, pool: Split, index: dict[str, torch.Tensor]) -> None:
        self.store, self.pool, self.index = store, pool, index

    def get(self, split: str, model, images, mean, std, precision, channels_last=True, timed=None):
        features = self.store.get(
            "pool", model, self.pool[0], mean, std, precision, channels_last, timed
        )
        return features[self.index[split]]


class Folds:
    """The study's folds at each resolution: `splits(resolution)[i]` is fold i's (train, val,
    features), made when asked from the pool decoded once per resolution and process."""

    def __init__(
        self,
        rows: Sequence[Sequence[int]],
        features: FeatureStore,
        precision: Precision,
        classes: Sequence[str],
    ) -> None:
        self.rows = [np.asarray(r, dtype=np.int64) for r in rows]
        self.features, self.precision, self.classes = features, precision, classes
        self._pools: dict[int, tuple[TrainingPool, Split]] = {}  # images only on the device

    def __len__(self) -> int:
        return len(self.rows)

    def splits(
        self,
        resolution: int,
        load_pool: Callable[[int], TrainingPool],
        reseed: int | None = None,
    ) -> list[Callable[[], tuple[Split, Split, FoldFeatures]]]:
        """Fold i's (train, val, features), made when called: one fold's tensors at a time.
        `load_pool(resolution)` gives the pool, asked once per resolution. `reseed`: the
        pool cut into as many other folds, seeded by it (a re-check's)."""
        if resolution not in self._pools:
            pool = load_pool(resolution)
            device = self.precision.device  # kept there for every trial at this resolution
            on_device = to_device_if_fits(pool.images, pool.labels, device)
            self._pools[resolution] = (pool._replace(images=pool.images[:0]), on_device)
        pool, (images, labels) = self._pools[resolution]
        folds = self.rows
        if reseed is not None:
            rows = fold_rows(pool, len(self.rows), reseed, self.classes)
            folds = [np.asarray(r, dtype=np.int64) for r in rows]

        def fold(i: int) -> tuple[Split, Split, FoldFeatures]:
            is_val = np.isin(pool.rows, folds[i])
            index = {
                "train": torch.from_numpy(np.flatnonzero(~is_val)),
                "val": torch.from_numpy(np.flatnonzero(is_val)),
            }
            on = {k: v.to(images.device) for k, v in index.items()}
            train = (images[on["train"]], labels[on["train"]])
            val = (images[on["val"]], labels[on["val"]])
            return train, val, FoldFeatures(self.features, (images, labels), index)

        return [lambda i=i: fold(i) for i in range(len(folds))]


def trial_value(trial: optuna.Trial, values: list[float]) -> float:
    """The trial's value: its one run's, or the mean over its folds, each fold's value and
    their standard deviation stored with it."""
    if len(values) == 1:
        return values[0]
    mean = statistics.fmean(values)
    TrialRecord.note(trial, fold_values=values, value_sd=statistics.stdev(values))
    return mean


def fold_note(values: list[float], folds: int) -> dict[str, Any]:
    """What an epoch's history row gets under --cv: the fold it belongs to (1-based)."""
    return {"fold": len(values) + 1} if folds > 1 else {}
