"""How much of a score is noise: a value shown with its spread, the runs of one configuration
(its search trial and the re-checks of it) taken together, the one finalize picks, and the
warning a search gives when its validation split is too small to rank trials by
(docs/concepts.md, Folds and Re-checks).

Reads trials as Optuna's FrozenTrial or a listing's StoredTrial: nothing here imports Optuna.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from automl.study.objectives import accuracy_of
from automl.study.record import StudyRecord, TrialRecord
from automl.study.tables import state_name

SMALL_SPLIT = 200  # validation images under which one split's accuracy is mostly noise
RECHECK_UNDER = 500  # validation images (a fold's under --cv) under which winners are re-checked
DEFAULT_RECHECKS = 3  # configurations re-checked by default on such a split


def with_sd(value: float, sd: float | None) -> str:
    """`0.6234`, or `0.6234 ± 0.0312` for a value that is the mean of several runs."""
    return f"{value:.4f}" if sd is None else f"{value:.4f} ± {sd:.4f}"


def small_split_warning(validation_images: int, cv: int | None) -> str | None:
    """What a search on a small validation split says once when it starts (None: nothing)."""
    if cv or validation_images >= SMALL_SPLIT:
        return None
    return (
        f"the validation split holds {validation_images} images: trial values on it differ "
        "by several points from the seed alone; --cv 5 validates on every training image "
        "(5 folds) for a steadier ranking"
    )


def default_rechecks(validation_images: int) -> int:
    """`--recheck` left out: the configurations re-checked for a split (or the smallest
    fold) of this many images."""
    return DEFAULT_RECHECKS if validation_images < RECHECK_UNDER else 0


def settled_rechecks(given: int | None, record: StudyRecord) -> int:
    """--recheck: as given, else the study's, else (a new study, or one made before
    re-checks) the default for its split."""
    if given is not None:
        return given
    if record.recheck is not None:
        return record.recheck
    return default_rechecks(record.validated_images)


@dataclass(frozen=True)
class Config:
    """One configuration's runs: its search trial's and each finished re-check's values."""

    trial: int  # number of its search trial (the one finalize retrains)
    values: tuple[float, ...]  # the search trial's value first
    fold_sd: float | None = None  # --cv: the sd over the search trial's folds
    numbers: tuple[int, ...] = ()  # the trials of its runs, the search trial first
    folds: int = 0  # --cv: the folds of the search trial's value

    @property
    def value(self) -> float:
        """The mean over its runs."""
        return statistics.fmean(self.values)

    @property
    def runs(self) -> int:
        return len(self.values)

    @property
    def sd(self) -> float | None:
        """The spread its value is shown with: over its runs, else over its one run's folds."""
        return statistics.stdev(self.values) if len(self.values) > 1 else self.fold_sd

    def describe(self) -> str:
        """`0.8123 ± 0.0211 (mean ± sd of 3 runs)`, `0.8123 ± 0.0211 (mean ± sd of 5 folds)`."""
        if self.runs > 1:
            return f"{with_sd(self.value, self.sd)} (mean ± sd of {self.runs} runs)"
        if self.fold_sd is not None:
            return f"{with_sd(self.value, self.sd)} (mean ± sd of {self.folds} folds)"
        return with_sd(self.value, None)


def _recorded(trials: Iterable[Any]) -> list[tuple[Any, TrialRecord]]:
    """Each trial with its record, read once."""
    return [(t, TrialRecord.of(t)) for t in trials]


def _completed(recorded: list[tuple[Any, TrialRecord]]) -> list[tuple[Any, TrialRecord]]:
    return [(t, r) for t, r in recorded if state_name(t) == "COMPLETE" and t.values]


def configs(trials: Iterable[Any]) -> list[Config]:
    """Each completed search trial with the completed re-checks of it, best first (by the
    mean of their runs)."""
    done = _completed(_recorded(trials))
    checks: dict[int, list[Any]] = {}
    for t, record in done:
        if record.recheck_of is not None:
            checks.setdefault(record.recheck_of, []).append(t)
    found = []
    for t, record in done:
        if record.recheck_of is None:
            runs = [t, *checks.get(t.number, [])]
            values = tuple(accuracy_of(r) for r in runs)
            numbers = tuple(r.number for r in runs)
            found.append(
                Config(t.number, values, record.value_sd, numbers, len(record.fold_values))
            )
    return sorted(found, key=lambda c: (-c.value, c.trial))


def pick(trials: Iterable[Any]) -> Config | None:
    """The configuration finalize retrains (`pick_of` the trials' `configs`)."""
    return pick_of(configs(trials))


def pick_of(found: Sequence[Config]) -> Config | None:
    """Of the configurations re-checked, the best mean over its runs (a configuration run
    once may be the luckiest, not the best); with no re-check, the best trial. None before
    any trial completed. `found`: `configs`, best first."""
    checked = [c for c in found if c.runs > 1]
    return (checked or list(found) or [None])[0]


def to_recheck(trials: Iterable[Any], n: int) -> list[Any]:
    """The search trials among the `n` best (by their own value) that have no re-check yet
    (queued, running or finished; a failed one, say interrupted, is run again): what
    `--recheck n` queues next."""
    recorded = _recorded(trials)
    checked = {r.recheck_of for t, r in recorded if state_name(t) != "FAIL"} - {None}
    best = sorted(
        (t for t, r in _completed(recorded) if r.recheck_of is None),
        key=lambda t: (-accuracy_of(t), t.number),
    )[:n]
    return [t for t in best if t.number not in checked]


def indistinguishable(found: Sequence[Config]) -> list[Config]:
    """The first of `found` (the best) and the others whose values lie within one sd of its
    value (the larger of the two sds): on this data, a draw. Empty when the best has no
    spread shown, or nothing else is that close."""
    if not found or found[0].sd is None:
        return []
    best = found[0]
    close = [best, *(c for c in found[1:] if abs(best.value - c.value) <= max(best.sd, c.sd or 0))]
    return close if len(close) > 1 else []


def draw(found: Sequence[Config]) -> list[Config]:
    """`indistinguishable` from the configuration finalize picks among `found` (`configs`):
    it and the others within one sd of it."""
    best = pick_of(found)
    if best is None:
        return []
    return indistinguishable([best, *(c for c in found if c.trial != best.trial)])
