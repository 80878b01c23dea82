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
    startup: float = 0.0  # each worker's run before its first trial: data check, weights...
    build: float = 0.0  # building models and loading their weights
    probe: float = 0.0  # timing the memory formats, counting FLOPs, measuring latency
    features: float = 0.0  # frozen backbones' passes over the images (head-only trials)

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
        over = f" ({self.over_limits} over the limits)" if self.over_limits else ""
        return (
            f"{self.complete} completed, {self.pruned} pruned{over}, {self.failed} failed; "
            f"{self.epochs} epochs in {minutes}m{secs:02d}s ("
            + ", ".join(f"{name} {share(parts[name])}" for name in shown)
            + ")"
        )


ALWAYS_SHOWN = ("decoding", "training", "evaluation")
OTHER_SHOWN = 0.02  # the unnamed rest is shown when it is over this share of the time


def spent(trials: Sequence[optuna.trial.FrozenTrial]) -> Spent:
    records = [TrialRecord.of(t) for t in trials]
    history = [row for r in records for row in r.history]
    decode = sum(r.decode_seconds for r in records)

    def part(name: str) -> float:
        return sum(r.parts_seconds.get(name, 0.0) for r in records)

    return Spent(
        complete=sum(t.state == TrialState.COMPLETE for t in trials),
        pruned=sum(t.state == TrialState.PRUNED for t in trials),
        failed=sum(t.state == TrialState.FAIL for t in trials),
        epochs=sum(int(r.epochs_run or 0) for r in records),
        seconds=decode + part("startup") + sum(r.wall_time for r in records),
        decode=decode,
        train=sum(row.get("train_seconds", 0.0) for row in history),
        evaluate=sum(row.get("eval_seconds", 0.0) for row in history),
        over_limits=sum(bool(r.over_limits) for r in records),
        startup=part("startup"),
        build=part("build"),
        probe=part("probe"),
        features=part("features"),
    )


@dataclass(frozen=True)
class StudyInfo:
    name: str
    storage: str
    best_value: float | None
    counts: dict[str, int]  # trial state name -> number of trials
    test_accuracy: float | None  # of the latest finalize run, if any
    spent: Spent | None = None
    best_sd: float | None = None  # of the best trial's runs (--cv folds), when it has several


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
            complete = [t for t in trials if t.state == TrialState.COMPLETE]
            best = max(complete, key=lambda t: t.value, default=None)
            runs = FinalRun.stored(study)
            found.append(
                StudyInfo(
                    summary.study_name,
                    url,
                    None if best is None else best.value,
                    {k: v for k, v in counts.items() if v},
                    runs[-1].accuracy if runs else None,
                    spent(trials),
                    None if best is None else TrialRecord.of(best).value_sd,
                )
            )
    return found
