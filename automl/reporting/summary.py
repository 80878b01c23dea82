"""Per-hyperparameter summary: importance, correlation with val accuracy, best level, counts."""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution
from optuna.trial import FrozenTrial, TrialState
from scipy.stats import spearmanr

from automl.study.objectives import accuracy_of

log = logging.getLogger(__name__)

EVALUATORS = ("ped_anova", "fanova")


@dataclass
class ParamSummary:
    name: str
    categorical: bool
    n: int  # completed trials that have this param
    importance: float | None
    correlation: float | None  # Spearman rho (numbers) or spread of level medians (choices)
    best_level: str  # level with the highest median (choices) / value in the best trial (numbers)
    levels: dict[str, list[float]] = field(default_factory=dict)  # choices: level -> values
    xs: list[float] = field(default_factory=list)  # numbers: param values
    ys: list[float] = field(default_factory=list)  # numbers: val accuracies, aligned with xs

    def counts(self) -> str:
        if self.categorical:
            return ", ".join(f"{k}: {len(v)}" for k, v in self.levels.items())
        return str(self.n)


@dataclass(frozen=True)
class Importance:
    values: dict[str, float]  # param -> importance, most important first; {} if unknown
    left_out: dict[str, str]  # param -> why it was not assessed


def completed(study: optuna.Study) -> list[FrozenTrial]:
    """The completed search trials: re-checks repeat one of them, and would weigh its params
    twice in the summaries and importances."""
    from automl.study.recheck import is_recheck

    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return [t for t in done if not is_recheck(t)]


def fmt_value(value) -> str:
    """A param value for display: floats to 4 significant digits."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def importance_params(
    trials: list[FrozenTrial], evaluator: str
) -> tuple[list[str], dict[str, str]]:
    """(params to assess, {left-out param: why}) over the completed `trials`.

    A param that took one value in every trial (pinned, or never varied) is left out: a pinned
    value inside a wider distribution looks concentrated to PED-ANOVA and would rank as
    important. fANOVA also needs params present in every trial, so conditional ones go."""
    values: dict[str, set] = {}
    first: dict[str, object] = {}
    for t in trials:
        for name, value in t.params.items():
            values.setdefault(name, set()).add(repr(value))
            first.setdefault(name, value)
    left_out = {n: f"always {fmt_value(first[n])}" for n, seen in values.items() if len(seen) == 1}
    if evaluator == "fanova":
        for name in values:
            n = sum(name in t.params for t in trials)
            if name not in left_out and n < len(trials):
                left_out[name] = f"conditional ({n} of {len(trials)} trials; fANOVA needs all)"
    return sorted(set(values) - set(left_out)), left_out


def importances(study: optuna.Study, evaluator: str = "ped_anova") -> Importance:
    """Optuna's PED-ANOVA (default) or fANOVA over the params `importance_params` keeps;
    empty values when the study is too small to tell. In a study of accuracy against a cost,
    the params are ranked for accuracy, its first objective."""
    if evaluator not in EVALUATORS:
        from automl.errors import ConfigError

        raise ConfigError(
            f"unknown importance {evaluator!r}; choose one of: {', '.join(EVALUATORS)}"
        )
    done = completed(study)
    names, left_out = importance_params(done, evaluator)
    if evaluator == "fanova":
        ev = optuna.importance.FanovaImportanceEvaluator(seed=0)
    else:
        ev = optuna.importance.PedAnovaImportanceEvaluator()
    if not names:
        return Importance({}, left_out)
    # Two objectives: Optuna wants a target; PED-ANOVA takes lower as better (fANOVA's
    # variances do not mind the sign). One objective: Optuna's own reading of the value.
    target = _lower_is_better if len(study.directions) > 1 else None
    try:
        with warnings.catch_warnings():  # "some regimes have less than 2 trials" on small studies
            warnings.simplefilter("ignore")
            if len(done) < len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))):
                study = optuna.create_study(directions=study.directions)  # without re-checks
                study.add_trials(done)
            found = optuna.importance.get_param_importances(
                study, evaluator=ev, params=names, target=target
            )
    except (ValueError, RuntimeError) as exc:  # too few trials, a single value, ...
        log.info("no parameter importances: %s", exc)
        return Importance({}, left_out)
    return Importance({k: float(v) for k, v in found.items()}, left_out)


def _lower_is_better(trial: FrozenTrial) -> float:
    """Validation accuracy (the first objective), negated."""
    return -accuracy_of(trial)


def summarize(trials: list[FrozenTrial], imp: dict[str, float]) -> list[ParamSummary]:
    names: dict[str, bool] = {}
    for t in trials:
        for name, dist in t.distributions.items():
            names.setdefault(name, isinstance(dist, CategoricalDistribution))
    best = max(trials, key=accuracy_of) if trials else None
    out = []
    for name, categorical in names.items():
        have = [t for t in trials if name in t.params]
        s = ParamSummary(name, categorical, len(have), imp.get(name), None, "-")
        if categorical:
            for t in have:
                s.levels.setdefault(str(t.params[name]), []).append(accuracy_of(t))
            medians = {k: float(np.median(v)) for k, v in s.levels.items()}
            if medians:
                s.best_level = max(medians, key=medians.get)
            if len(medians) > 1:
                s.correlation = max(medians.values()) - min(medians.values())
        else:
            s.xs = [float(t.params[name]) for t in have]
            s.ys = [accuracy_of(t) for t in have]
            if len(set(s.xs)) > 1 and len(set(s.ys)) > 1:
                rho = spearmanr(s.xs, s.ys).statistic
                s.correlation = None if math.isnan(rho) else float(rho)
            if best is not None and name in best.params:
                s.best_level = f"{best.params[name]:.4g}"
        out.append(s)
    out.sort(key=lambda s: -(s.importance or 0.0))
    return out
