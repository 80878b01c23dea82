"""`automl studies`: every study with its best value, trial counts per state, and how its
compute was spent."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import TrialState

from automl.paths import STUDIES_DIR, Paths
from automl.study.record import FinalRun, TrialRecord
from automl.study.storage import is_optuna_sqlite, open_storage


@dataclass(frozen=True)
class Spent:
    """Where a study's compute went, summed over its trials (seconds of trial wall time)."""

    complete: int
    pruned: int
    failed: int
    epochs: int
    seconds: float
    decode: float
    train: float
    evaluate: float
    over_limits: int = 0  # pruned untrained: over --max-params/--max-flops/--max-latency-ms

    def line(self) -> str:
        def share(part: float) -> str:
            return f"{100 * part / self.seconds:.0f}%" if self.seconds > 0 else "-"

        minutes, secs = divmod(round(self.seconds), 60)
        over = f" ({self.over_limits} over the limits)" if self.over_limits else ""
        return (
            f"{self.complete} completed, {self.pruned} pruned{over}, {self.failed} failed; "
            f"{self.epochs} epochs in {minutes}m{secs:02d}s (decoding {share(self.decode)}, "
            f"training {share(self.train)}, evaluation {share(self.evaluate)})"
        )


def spent(trials: Sequence[optuna.trial.FrozenTrial]) -> Spent:
    records = [TrialRecord.of(t) for t in trials]
    history = [row for r in records for row in r.history]
    decode = sum(r.decode_seconds for r in records)
    return Spent(
        complete=sum(t.state == TrialState.COMPLETE for t in trials),
        pruned=sum(t.state == TrialState.PRUNED for t in trials),
        failed=sum(t.state == TrialState.FAIL for t in trials),
        epochs=sum(int(r.epochs_run or 0) for r in records),
        seconds=decode + sum(r.wall_time for r in records),
        decode=decode,
        train=sum(row.get("train_seconds", 0.0) for row in history),
        evaluate=sum(row.get("eval_seconds", 0.0) for row in history),
        over_limits=sum(bool(r.over_limits) for r in records),
    )


@dataclass(frozen=True)
class StudyInfo:
    name: str
    storage: str
    best_value: float | None
    counts: dict[str, int]  # trial state name -> number of trials
    test_accuracy: float | None  # of the latest finalize run, if any
    spent: Spent | None = None


def list_studies(
    storage: str | None = None, studies_dir: str | Path = STUDIES_DIR
) -> list[StudyInfo]:
    """Studies in `storage`, or in every `<studies_dir>/*.db` when no storage is given."""
    if storage:
        urls = [storage]
    else:  # only files that are Optuna databases: opening any other would add tables to it
        files = Paths(studies_dir).databases()
        urls = [f"sqlite:///{p}" for p in files if is_optuna_sqlite(p)]
    found = []
    for url in urls:
        rdb = open_storage(url, must_exist=True)
        for summary in optuna.get_all_study_summaries(rdb, include_best_trial=False):
            study = optuna.load_study(study_name=summary.study_name, storage=rdb)
            trials = study.get_trials(deepcopy=False)
            counts = {s.name: sum(t.state == s for t in trials) for s in TrialState}
            complete = [t.value for t in trials if t.state == TrialState.COMPLETE]
            runs = FinalRun.stored(study)
            found.append(
                StudyInfo(
                    summary.study_name,
                    url,
                    max(complete, default=None),
                    {k: v for k, v in counts.items() if v},
                    runs[-1].accuracy if runs else None,
                    spent(trials),
                )
            )
    return found
