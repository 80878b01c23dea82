"""Sampler and pruner tables behind one getter each."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import optuna

from automl.errors import ConfigError
from automl.registry import choose


def _grid(seed: int, grid: Mapping[str, Sequence[Any]] | None) -> optuna.samplers.BaseSampler:
    if not grid:
        raise ConfigError("this space declares no grid; use --sampler tpe, random or cmaes")
    return optuna.samplers.GridSampler(dict(grid), seed=seed)


SAMPLERS = {
    "tpe": lambda seed, grid: optuna.samplers.TPESampler(seed=seed),
    "random": lambda seed, grid: optuna.samplers.RandomSampler(seed=seed),
    "grid": _grid,
    # categorical dimensions fall back to random sampling, silently
    "cmaes": lambda seed, grid: optuna.samplers.CmaEsSampler(
        seed=seed, warn_independent_sampling=False, n_startup_trials=5
    ),
}


def create_sampler(
    name: str,
    seed: int,
    grid: Mapping[str, Sequence[Any]] | None = None,
    fixed: Mapping[str, Any] | None = None,
) -> optuna.samplers.BaseSampler:
    if name == "grid" and grid and fixed:  # pin the grid itself rather than override it
        grid = {**grid, **{k: [v] for k, v in fixed.items() if k in grid}}
        fixed = {k: v for k, v in fixed.items() if k not in grid}
    sampler = choose(SAMPLERS, name, "sampler")(seed, grid)
    if fixed:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            sampler = optuna.samplers.PartialFixedSampler(dict(fixed), sampler)
    return sampler


PRUNERS = {
    "hyperband": lambda epochs: optuna.pruners.HyperbandPruner(
        min_resource=1, max_resource=epochs, reduction_factor=3
    ),
    "median": lambda epochs: optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1),
    "sha": lambda epochs: optuna.pruners.SuccessiveHalvingPruner(
        min_resource=1, reduction_factor=3
    ),
    "none": lambda epochs: optuna.pruners.NopPruner(),
}


def create_pruner(name: str, epochs: int) -> optuna.pruners.BasePruner:
    return choose(PRUNERS, name, "pruner")(epochs)
