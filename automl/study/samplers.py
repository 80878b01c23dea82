"""Sampler and pruner tables behind one getter each. The tables load nothing heavy (the
command line lists their names); Optuna loads when a sampler or pruner is built."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from automl.errors import ConfigError
from automl.registry import check_name, choose
from automl.settings import DEFAULT_PRUNER
from automl.study.objectives import Objectives

if TYPE_CHECKING:
    import optuna

Grid = Mapping[str, Sequence[Any]] | None


def startup_trials(trials: int | None) -> int:
    """Random trials before TPE models the space: Optuna's 10 for long studies, a third of a
    short one (at least 4), so that a 12-trial study is not a random search in all but name.
    Portfolio trials count among them."""
    return 10 if trials is None else max(4, min(10, trials // 3))


def _tpe(seed: int, grid: Grid, startup: int) -> optuna.samplers.BaseSampler:
    import optuna

    # constant liar: trials still running elsewhere repel new ones (default only from optuna 5)
    return optuna.samplers.TPESampler(seed=seed, constant_liar=True, n_startup_trials=startup)


def _random(seed: int, grid: Grid, startup: int) -> optuna.samplers.BaseSampler:
    import optuna

    return optuna.samplers.RandomSampler(seed=seed)


def _grid(seed: int, grid: Grid, startup: int = 10) -> optuna.samplers.BaseSampler:
    import optuna

    if not grid:
        raise ConfigError("this space declares no grid; use --sampler tpe, random or cmaes")
    return optuna.samplers.GridSampler(dict(grid), seed=seed)


def _cmaes(seed: int, grid: Grid, startup: int) -> optuna.samplers.BaseSampler:
    import optuna

    # categorical dimensions fall back to random sampling, silently
    return optuna.samplers.CmaEsSampler(
        seed=seed, warn_independent_sampling=False, n_startup_trials=min(5, startup)
    )


def _nsga2(seed: int, grid: Grid, startup: int) -> optuna.samplers.BaseSampler:
    import optuna

    # a generation of `startup` trials: Optuna's 50 would leave a short study random
    return optuna.samplers.NSGAIISampler(seed=seed, population_size=max(4, startup))


SAMPLERS: dict[str, Callable[[int, Grid, int], optuna.samplers.BaseSampler]] = {
    "tpe": _tpe,
    "random": _random,
    "grid": _grid,
    "cmaes": _cmaes,
    "nsga2": _nsga2,
}
ONE_OBJECTIVE_SAMPLERS = ("cmaes",)  # Optuna's CMA-ES refuses a multi-objective study


def create_sampler(
    name: str,
    seed: int,
    grid: Grid = None,
    fixed: Mapping[str, Any] | None = None,
    trials: int | None = None,
) -> optuna.samplers.BaseSampler:
    """A sampler whose randomness for trial k is seeded by (seed, k), see `TrialSeededSampler`;
    `trials` (the study's target) sets how many random trials come first (`startup_trials`)."""
    import optuna

    from automl.study.seeded import TrialSeededSampler

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


def _hyperband(epochs: int) -> optuna.pruners.BasePruner:
    import optuna

    return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=epochs, reduction_factor=3)


def _median(epochs: int) -> optuna.pruners.BasePruner:
    import optuna

    return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)


def _sha(epochs: int) -> optuna.pruners.BasePruner:
    import optuna

    return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)


def _none(epochs: int) -> optuna.pruners.BasePruner:
    import optuna

    return optuna.pruners.NopPruner()


PRUNERS: dict[str, Callable[[int], optuna.pruners.BasePruner]] = {
    "hyperband": _hyperband,
    "median": _median,
    "sha": _sha,
    "none": _none,
    "pareto": _none,  # Optuna's pruners refuse two objectives: automl's rule (pareto.py)
}
TWO_OBJECTIVE_PRUNERS = ("pareto", "none")


def create_pruner(name: str, epochs: int) -> optuna.pruners.BasePruner:
    return choose(PRUNERS, name, "pruner")(epochs)


def settled_pruner(pruner: str | None, sampler: str, objectives: Objectives) -> str:
    """The pruner a search runs with (None: hyperband, or pareto for two objectives); a
    sampler or pruner that cannot handle the study's objectives is refused in one line."""
    check_name(sampler, sorted(SAMPLERS), "sampler")
    if pruner is not None:
        check_name(pruner, sorted(PRUNERS), "pruner")
    if not objectives.multi:
        if pruner == "pareto":
            raise ConfigError(
                "--pruner=pareto ranks trials on accuracy and a cost; with accuracy alone use "
                f"{', '.join(p for p in PRUNERS if p != 'pareto')}, or add "
                "--objective=accuracy,params (or flops, latency)"
            )
        return pruner or DEFAULT_PRUNER
    if sampler in ONE_OBJECTIVE_SAMPLERS:
        usable = ", ".join(s for s in SAMPLERS if s not in ONE_OBJECTIVE_SAMPLERS)
        raise ConfigError(
            f"--sampler {sampler} handles one objective; with --objective {objectives} use {usable}"
        )
    if pruner is not None and pruner not in TWO_OBJECTIVE_PRUNERS:
        raise ConfigError(
            f"--pruner={pruner} needs one objective (Optuna's pruners refuse two); with "
            f"--objective={objectives} use --pruner=pareto (the default) or none"
        )
    return pruner or "pareto"
