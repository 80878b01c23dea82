"""A sampler rebuilt for every trial, seeded by the study's seed and the trial's number."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import optuna
from optuna.trial import FrozenTrial


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
