"""Accuracy against cost: the Pareto front of a study, its hypervolume and its knee, and the
rule that prunes a two-objective search (docs/concepts.md, Accuracy against cost).

A point is (accuracy, cost): higher accuracy and lower cost are better. Reads trials as
Optuna's FrozenTrial or a listing's StoredTrial: nothing here imports Optuna.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from automl.study.noise import Config, configs, pick_of
from automl.study.objectives import Objectives
from automl.study.record import TrialRecord


@dataclass(frozen=True)
class Point:
    trial: int  # the search trial's number
    accuracy: float  # the mean over its runs when it was re-checked
    cost: float

    def dominates(self, other: Point) -> bool:
        """At least as good in both, better in one."""
        return (
            self.accuracy >= other.accuracy
            and self.cost <= other.cost
            and (self.accuracy > other.accuracy or self.cost < other.cost)
        )


def front(points: Iterable[Point]) -> list[Point]:
    """The points no other point dominates, cheapest first (of equal points, the first trial)."""
    ordered = sorted(points, key=lambda p: (p.cost, -p.accuracy, p.trial))
    kept: list[Point] = []
    for p in ordered:  # cheapest first: kept when more accurate than every cheaper one
        if not kept or p.accuracy > kept[-1].accuracy:
            kept.append(p)
    return kept


def layers(points: Sequence[Point]) -> list[list[Point]]:
    """Non-dominated sorting: the front, then the front of what is left, and so on."""
    left, found = list(points), []
    while left:
        first = [p for p in left if not any(q.dominates(p) for q in left)]
        found.append(first)
        left = [p for p in left if p not in first]
    return found


def hypervolume(points: Iterable[Point], reference: tuple[float, float]) -> float:
    """The area of (accuracy, cost) that the points dominate and that dominates `reference`
    (its worst accuracy and cost); points beyond it add nothing."""
    acc_ref, cost_ref = reference
    area, best = 0.0, acc_ref
    kept = [p for p in front(points) if p.accuracy > acc_ref and p.cost < cost_ref]
    rights = [p.cost for p in kept[1:]] + [cost_ref]  # each holds till the next is cheaper
    for p, right in zip(kept, rights, strict=False):
        best = max(best, p.accuracy)
        area += (right - p.cost) * (best - acc_ref)
    return area


def knee(points: Sequence[Point]) -> Point | None:
    """The member of a front (cheapest first) farthest above the line joining its two ends, in
    accuracy and log cost scaled to [0, 1]: where more cost stops buying much accuracy.
    None for a front of fewer than 3 points, or one with no member above that line."""
    if len(points) < 3:
        return None
    xs = [math.log10(max(p.cost, 1e-12)) for p in points]
    ys = [p.accuracy for p in points]
    dx, dy = (max(xs) - min(xs)) or 1.0, (max(ys) - min(ys)) or 1.0
    xs = [(x - min(xs)) / dx for x in xs]
    ys = [(y - min(ys)) / dy for y in ys]
    (x0, y0), (x1, y1) = (xs[0], ys[0]), (xs[-1], ys[-1])
    norm = math.hypot(x1 - x0, y1 - y0) or 1.0

    def distance(i: int) -> float:  # above the chord: accuracy gained early
        return ((x1 - x0) * (ys[i] - y0) - (y1 - y0) * (xs[i] - x0)) / norm

    i = max(range(1, len(points) - 1), key=distance)
    return points[i] if distance(i) > 0 else None


def study_points(trials: Iterable[Any], objectives: Objectives) -> list[Point]:
    """Each completed configuration of a study (its search trial with its re-checks, the mean
    accuracy over them) with its cost."""
    trials = list(trials)
    by_number = {t.number: t for t in trials}
    points = []
    for c in configs(trials):
        cost = objectives.cost_of(TrialRecord.of(by_number[c.trial]))
        if cost is not None:
            points.append(Point(c.trial, c.value, cost))
    return points


def study_front(trials: Iterable[Any], objectives: Objectives) -> list[Point]:
    return front(study_points(trials, objectives))


def most_accurate(members: Sequence[Point]) -> Point | None:
    """What finalize retrains of a front by default: its most accurate member (of equals, the
    cheapest, then the first trial)."""
    return max(members, key=lambda p: (p.accuracy, -p.cost, -p.trial)) if members else None


def default_pick(trials: Iterable[Any], objectives: Objectives) -> Config | None:
    """The configuration (noise.Config) `automl finalize` retrains without --trial: the best
    (noise.pick_of), or in a study of accuracy against a cost its front's most accurate
    member; None before any trial completed."""
    trials = list(trials)
    found = configs(trials)
    chosen = most_accurate(study_front(trials, objectives)) if objectives.multi else None
    if chosen is not None:
        return next(c for c in found if c.trial == chosen.trial)
    return pick_of(found)


def first_fold_accuracy(record: TrialRecord, epoch: int) -> float | None:
    """A trial's validation accuracy after `epoch` of its first run (fold)."""
    for row in record.history:
        if row.get("fold", 1) == 1 and row.get("epoch") == epoch:
            return float(row["val_acc"])
    return None


@dataclass(frozen=True)
class ParetoRungs:
    """automl's pruning rule for a two-objective search, successive halving on a front.

    At each rung (epochs 1, eta, eta^2, ... below the last), the trials that reached it are
    ranked by non-dominated sorting on (accuracy after that epoch, cost). A trial goes on
    while fewer than 1/eta of them lie in layers before its own: a trial no other one
    dominates at that rung always goes on, so the front being drawn is never cut short, while
    a trial that cheaper-and-better ones outnumber stops. A rung decides nothing before
    `min_trials` trials reached it."""

    epochs: int
    eta: int = 3
    min_trials: int = 4

    @property
    def rungs(self) -> list[int]:
        found, rung = [], 1
        while rung < self.epochs:
            found.append(rung)
            rung *= self.eta
        return found

    def stops(self, mine: Point, others: Sequence[Point]) -> bool:
        """Whether `mine` stops at a rung the `others` reached (their accuracy at it)."""
        everyone = [mine, *others]
        if len(everyone) < self.min_trials:
            return False
        before = 0
        for layer in layers(everyone):
            if mine in layer:
                break
            before += len(layer)
        return before >= math.ceil(len(everyone) / self.eta)

    def decide(self, trial_number: int, epoch: int, cost: float, accuracy: float,
               trials: Iterable[Any], objectives: Objectives) -> str | None:  # fmt: skip
        """Why the trial `trial_number` stops after `epoch` (None: it goes on), given the
        study's `trials` (their records hold each epoch's accuracy and their cost)."""
        if epoch not in self.rungs:
            return None
        others = []
        for t in trials:
            record = TrialRecord.of(t)
            if t.number == trial_number or record.recheck_of is not None:
                continue
            their_cost, acc = objectives.cost_of(record), first_fold_accuracy(record, epoch)
            if their_cost is not None and acc is not None:
                others.append(Point(t.number, acc, their_cost))
        mine = Point(trial_number, accuracy, cost)
        if not self.stops(mine, others):
            return None
        better = sum(p.dominates(mine) for p in others)
        return (
            f"dominated after epoch {epoch} by {better} of {len(others)} trials "
            f"(accuracy and {objectives.cost})"
        )
