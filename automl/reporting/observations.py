"""Plain-language findings from the trials, each with its evidence, only where the data holds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import spearmanr

from automl.reporting.summary import ParamSummary

MIN_TRIALS = 10  # completed trials before anything is said about hyperparameters
MIN_PER_LEVEL = 5  # trials a choice level needs before it is compared
MIN_RHO = 0.5  # |Spearman rho| a number needs, with p < MAX_P
MAX_P = 0.01


@dataclass(frozen=True)
class Observation:
    param: str | None  # None for study-wide findings and notes
    finding: str
    evidence: str
    supported: bool  # False: a note on what cannot be said (too few trials, ...)


def _iqr(values: list[float]) -> float:
    q1, q3 = np.percentile(values, [25, 75])
    return float(q3 - q1)


def observe(summaries: list[ParamSummary], n_complete: int, n_pruned: int = 0) -> list[Observation]:
    if n_complete < MIN_TRIALS:
        return [
            Observation(
                None,
                "The study is too small to say anything about its hyperparameters.",
                f"{n_complete} completed trial(s); at least {MIN_TRIALS} are needed.",
                False,
            )
        ]
    found: list[Observation] = []
    for s in summaries:
        found.append(_constant(s) or (_categorical(s) if s.categorical else _numeric(s)))
    total = n_complete + n_pruned
    if n_pruned and total:
        found.append(
            Observation(
                None,
                f"The pruner stopped {n_pruned / total:.0%} of the finished trials early.",
                f"{n_pruned} pruned vs {n_complete} completed.",
                True,
            )
        )
    return [o for o in found if o is not None]


def _constant(s: ParamSummary) -> Observation | None:
    values = set(s.levels) if s.categorical else set(s.xs)
    if len(values) != 1:
        return None
    (value,) = values
    shown = value if s.categorical else f"{value:.4g}"
    return Observation(
        s.name,
        f"{s.name}: always {shown} in the completed trials.",
        f"{s.n} trial{'s' if s.n != 1 else ''}; nothing to compare.",
        False,
    )


def _categorical(s: ParamSummary) -> Observation:
    enough = {k: v for k, v in s.levels.items() if len(v) >= MIN_PER_LEVEL}
    few = {k: len(v) for k, v in s.levels.items() if len(v) < MIN_PER_LEVEL}
    if len(enough) < 2:
        shown = ", ".join(f"{k}: {n}" for k, n in few.items())
        return Observation(
            s.name,
            f"{s.name}: too few trials per level to compare.",
            f"levels need {MIN_PER_LEVEL} completed trials each ({shown}).",
            False,
        )
    medians = {k: float(np.median(v)) for k, v in enough.items()}
    hi = max(medians, key=medians.get)
    lo = min(medians, key=medians.get)
    gap = medians[hi] - medians[lo]
    spread = max(_iqr(enough[hi]), _iqr(enough[lo]))
    evidence = (
        f"{hi}: median val accuracy {medians[hi]:.3f} over {len(enough[hi])} trials vs "
        f"{medians[lo]:.3f} for {lo} over {len(enough[lo])}; within-level IQR up to {spread:.3f}"
    )
    if few:
        evidence += "; not compared (too few trials): " + ", ".join(
            f"{k} ({n})" for k, n in few.items()
        )
    if gap > spread and gap > 0:
        return Observation(s.name, f"{s.name}: {hi} does better than {lo}.", evidence, True)
    return Observation(
        s.name,
        f"{s.name}: no clear difference between its levels.",
        evidence + f"; the gap {gap:.3f} is not larger than the spread",
        False,
    )


def _numeric(s: ParamSummary) -> Observation:
    if len(s.xs) < MIN_TRIALS or len(set(s.xs)) < 3 or len(set(s.ys)) < 2:
        return Observation(
            s.name,
            f"{s.name}: too few distinct values to judge.",
            f"{len(s.xs)} trials, {len(set(s.xs))} distinct values; at least {MIN_TRIALS} "
            "trials and 3 values are needed.",
            False,
        )
    result = spearmanr(s.xs, s.ys)
    rho, p = float(result.statistic), float(result.pvalue)
    evidence = f"Spearman rho {rho:+.2f} (p = {p:.2g}) over {len(s.xs)} trials"
    if abs(rho) >= MIN_RHO and p < MAX_P:
        order = np.argsort(s.xs)
        half = len(order) // 2
        low = float(np.median(np.asarray(s.ys)[order[:half]]))
        high = float(np.median(np.asarray(s.ys)[order[half:]]))
        direction = "higher" if rho > 0 else "lower"
        return Observation(
            s.name,
            f"{s.name}: {direction} values go with higher val accuracy.",
            f"{evidence}; median val accuracy {low:.3f} in the lower half of its values vs "
            f"{high:.3f} in the upper half",
            True,
        )
    return Observation(s.name, f"{s.name}: no clear trend with val accuracy.", evidence, False)
