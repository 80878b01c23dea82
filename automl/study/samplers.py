"""Sampler and pruner tables behind one getter each."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial

from automl.errors import ConfigError
from automl.registry import choose


def startup_trials(trials: int | None) -> int:
    """Random trials before TPE models the space: Optuna's 10 for long studies, a third of a
    short one (at least 4), so that a 12-trial study is not a random search in all but name.
    Portfolio trials count among them."""
    return 10 if trials is None else max(4, min(10, trials // 3))


def _grid(
    seed: int, grid: Mapping[str, Sequence[Any]] | None, startup: int = 10
) -> optuna.samplers.BaseSampler:
    if not grid:
        raise ConfigError("this space declares no grid; use --sampler tpe, random or cmaes")
    return optuna.samplers.GridSampler(dict(grid), seed=seed)


SAMPLERS = {
    # constant liar: trials still running elsewhere repel new ones (default only from optuna 5)
    "tpe": lambda seed, grid, startup: optuna.samplers.TPESampler(
        seed=seed, constant_liar=True, n_startup_trials=startup
    ),
    "random": lambda seed, grid, startup: optuna.samplers.RandomSampler(seed=seed),
    "grid": _grid,
    # categorical dimensions fall back to random sampling, silently
    "cmaes": lambda seed, grid, startup: optuna.samplers.CmaEsSampler(
        seed=seed, warn_independent_sampling=False, n_startup_trials=min(5, startup)
    ),
}


def create_sampler(
    name: str,
    seed: int,
    grid: Mapping[str, Sequence[Any]] | None = None,
    fixed: Mapping[str, Any] | None = None,
    trials: int | None = None,
) -> optuna.samplers.BaseSampler:
    """A sampler whose randomness for trial k is seeded by (seed, k), see `TrialSeededSampler`;
    `trials` (the study's target) sets how many random trials come first (`startup_trials`)."""
    if name == "grid" and grid and fixed:  # pin the grid itself rather than override it
        grid = {**grid, **{k: [v] for k, v in fixed.items() if k in grid}}
        fixed = {k: v for k, v in fixed.items() if k not in grid}
    make = choose(SAMPLERS, name, "sampler")
    startup = startup_trials(trials)
    make(seed, grid, startup)  # fail now, not at the first trial, on a bad name or a missing grid

    def build(trial_seed: int) -> optuna.samplers.BaseSampler:
        sampler = make(trial_seed, grid, startup)
        if fixed:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                sampler = optuna.samplers.PartialFixedSampler(dict(fixed), sampler)
        return sampler

    if name == "grid":  # its order is shuffled by the seed: one order for the whole study
        return build(seed)
    return TrialSeededSampler(build, seed)


def trial_seed(seed: int, number: int) -> int:
    """A seed for trial `number` of a study seeded `seed`: distinct for every trial."""
    return int(np.random.SeedSequence([seed, number]).generate_state(1)[0])


class TrialSeededSampler(optuna.samplers.BaseSampler):
    """Builds its sampler afresh for each trial, seeded by the study's seed and the trial's
    number. The storage hands out trial numbers atomically, so any number of workers, on any
    machines, started at the same instant, never share a seed (optuna#4714), while one
    worker, or a resumed run, samples exactly as it would have. The built-in samplers keep
    their state in the storage (TPE, with constant liar, sees the trials still running), so
    rebuilding one per trial loses nothing.
    """

    def __init__(self, build: Callable[[int], optuna.samplers.BaseSampler], seed: int) -> None:
        self._build, self._seed = build, seed
        self._sampler = build(seed)

    @property
    def inner(self) -> optuna.samplers.BaseSampler:
        return self._sampler

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self._sampler = self._build(trial_seed(self._seed, trial.number))
        self._sampler.before_trial(study, trial)

    def infer_relative_search_space(self, study, trial):
        return self._sampler.infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):
        return self._sampler.sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self._sampler.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study, trial, state, values) -> None:
        self._sampler.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._sampler.reseed_rng()


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
