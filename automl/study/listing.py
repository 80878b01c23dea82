"""`automl studies`: every study with its best value, trial counts per state, and how its
compute was spent.

The studies folder's SQLite files are read without Optuna (automl/study/tables.py), which
takes milliseconds where importing Optuna and opening each storage takes about a second;
other storages, and files in a schema that module does not know, are read through Optuna.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from automl.paths import STUDIES_DIR, Paths
from automl.study.noise import pick
from automl.study.objectives import Objectives
from automl.study.pareto import study_front
from automl.study.record import FinalRun, StudyRecord, TrialRecord, read_partial
from automl.study.tables import (
    STATES,
    StoredStudy,
    StoredTrial,
    UnknownSchema,
    is_optuna_sqlite,
    read_studies,
    state_name,
)

if TYPE_CHECKING:
    import optuna


@dataclass(frozen=True)
class Spent:
    """Where a study's compute went, summed over its trials (seconds of trial wall time, with
    each worker's start-up before its first trial and the decoding)."""

    complete: int
    pruned: int
    failed: int
    epochs: int
    seconds: float
    decode: float
    train: float
    evaluate: float
    over_limits: int = 0  # pruned untrained: over --max-params/--max-flops/--max-latency-ms
    rechecks: int = 0  # of the completed ones, re-checks (--recheck)
    startup: float = 0.0  # each worker's run before its first trial: data check, weights...
    build: float = 0.0  # building models and loading their weights
    probe: float = 0.0  # timing the memory formats, counting FLOPs, measuring latency
    features: float = 0.0  # frozen backbones' passes over the images (head-only trials)
    saved: int = 0  # epochs the pruned trials did not train

    def line(self) -> str:
        def share(part: float) -> str:
            return f"{100 * part / self.seconds:.0f}%" if self.seconds > 0 else "-"

        parts = {
            "start-up": self.startup,
            "decoding": self.decode,
            "model builds": self.build,
            "timing probes": self.probe,
            "feature passes": self.features,
            "training": self.train,
            "evaluation": self.evaluate,
        }
        shown = [name for name, s in parts.items() if s > 0 or name in ALWAYS_SHOWN]
        other = self.seconds - sum(parts.values())
        if self.seconds > 0 and other > OTHER_SHOWN * self.seconds:
            parts["other"] = other
            shown.append("other")
        minutes, secs = divmod(round(self.seconds), 60)
        notes = [f"{self.over_limits} over the limits"] if self.over_limits else []
        notes += [f"{self.saved} epochs saved"] if self.saved else []
        over = f" ({'; '.join(notes)})" if notes else ""
        checks = f" ({self.rechecks} of them re-checks)" if self.rechecks else ""
        return (
            f"{self.complete} completed{checks}, {self.pruned} pruned{over}, "
            f"{self.failed} failed; "
            f"{self.epochs} epochs in {minutes}m{secs:02d}s ("
            + ", ".join(f"{name} {share(parts[name])}" for name in shown)
            + ")"
        )


ALWAYS_SHOWN = ("decoding", "training", "evaluation")
OTHER_SHOWN = 0.02  # the unnamed rest is shown when it is over this share of the time


def spent(
    trials: Sequence[optuna.trial.FrozenTrial | StoredTrial], record: StudyRecord | None = None
) -> Spent:
    """The account of `trials`: Optuna's, or those a listing read from the tables. With the
    study's `record`, the epochs its pruned trials saved (each trial: epochs x folds)."""
    states = [state_name(t) for t in trials]
    records = [TrialRecord.of(t) for t in trials]
    history = [row for r in records for row in r.history[r.resumed_after or 0 :]]  # own epochs
    decode = sum(r.decode_seconds for r in records)

    def part(name: str) -> float:
        return sum(r.parts_seconds.get(name, 0.0) for r in records)

    return Spent(
        complete=states.count("COMPLETE"),
        pruned=states.count("PRUNED"),
        failed=states.count("FAIL"),
        epochs=sum(r.epochs_trained for r in records),
        seconds=decode + part("startup") + sum(r.wall_time for r in records),
        decode=decode,
        train=sum(row.get("train_seconds", 0.0) for row in history),
        evaluate=sum(row.get("eval_seconds", 0.0) for row in history),
        over_limits=sum(bool(r.over_limits) for r in records),
        rechecks=sum(
            s == "COMPLETE" and r.recheck_of is not None
            for s, r in zip(states, records, strict=True)
        ),
        startup=part("startup"),
        build=part("build"),
        probe=part("probe"),
        features=part("features"),
        saved=0 if record is None else _saved(states, records, record),
    )


def _saved(states: list[str], records: list[TrialRecord], study: StudyRecord) -> int:
    if not study.epochs:  # a record without it (a study made by other code)
        return 0
    planned = study.epochs * (study.cv or 1)
    return sum(
        max(0, planned - int(r.epochs_run or 0))
        for s, r in zip(states, records, strict=True)
        if s == "PRUNED"
    )


@dataclass(frozen=True)
class StudyInfo:
    name: str
    storage: str
    best_value: float | None
    counts: dict[str, int]  # trial state name -> number of trials
    test_accuracy: float | None  # of the latest finalize run, if any
    spent: Spent | None = None
    best_sd: float | None = None  # over the best's runs (re-checks, else --cv folds), if several
    objectives: Objectives = Objectives()
    front: int | None = None  # a two-objective study's Pareto front: how many configurations


def list_studies(
    storage: str | None = None,
    studies_dir: str | Path = STUDIES_DIR,
    *,
    before_optuna: Callable[[], None] = lambda: None,
) -> list[StudyInfo]:
    """Studies in `storage`, or in every `<studies_dir>/*.db` when no storage is given.
    `before_optuna` runs before each storage that needs Optuna is read (the CLI routes
    Optuna's log lines then); the studies folder's files seldom do."""
    if storage:
        before_optuna()
        return [_info(study, storage) for study in read_through_optuna(storage)]
    found = []
    for path in Paths(studies_dir).databases():
        if not is_optuna_sqlite(path):  # opening any other file would add tables to it
            continue
        url = f"sqlite:///{path}"
        try:
            studies = read_studies(path)
        except (UnknownSchema, sqlite3.Error):
            before_optuna()
            studies = read_through_optuna(url)
        found += [_info(study, url) for study in studies]
    return found


def read_through_optuna(url: str) -> list[StoredStudy]:
    """The studies in the storage at `url`, read by Optuna: what read_studies reads."""
    import optuna

    from automl.study.storage import open_storage

    rdb = open_storage(url, must_exist=True)
    studies = []
    for summary in optuna.get_all_study_summaries(rdb, include_best_trial=False):
        study = optuna.load_study(study_name=summary.study_name, storage=rdb)
        trials = [
            StoredTrial(t.number, t.state.name, t.values, t.user_attrs)
            for t in study.get_trials(deepcopy=False)
        ]
        studies.append(StoredStudy(summary.study_name, study.user_attrs, trials))
    return studies


def _info(study: StoredStudy, url: str) -> StudyInfo:
    counts = {state: sum(t.state == state for t in study.trials) for state in STATES}
    best = pick(study.trials)  # what finalize retrains: the best mean once re-checked
    runs = FinalRun.stored(study)
    record = read_partial(study)  # a study made by other code lacks most of it
    objectives = record.objectives
    front = len(study_front(study.trials, objectives)) if objectives.multi else None
    return StudyInfo(
        study.name,
        url,
        None if best is None else best.value,
        {k: v for k, v in counts.items() if v},
        runs[-1].accuracy if runs else None,
        spent(study.trials, record),
        None if best is None else best.sd,
        objectives,
        front,
    )
