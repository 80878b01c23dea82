"""What automl logs to the trackers: a run per trial (its params, every epoch's scalars, the
model's size, how it ended), finalize's run (test metrics and figures, model.pt's path) and
the report's figures. The names here are the same in every tracker."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automl.track.base import FAILED, PRUNED, RunStart, StudyInfo
from automl.track.names import check_installed
from automl.track.tracking import TrackedRun, Tracking

if TYPE_CHECKING:
    from automl.paths import Paths
    from automl.study.record import StudyRecord

log = logging.getLogger(__name__)

EPOCH_SCALARS = {  # history row key -> the scalar's name in every tracker
    "train_loss": "train_loss",
    "train_acc": "train_acc",
    "val_loss": "val_loss",
    "val_acc": "val_acc",
    "val_f1_macro": "val_f1_macro",
    "lr": "lr",
    "seconds": "epoch_seconds",
}
SIZES = ("params", "trainable_params", "flops", "latency_ms")  # TrialRecord's, once built
ENDED = (*SIZES, "wall_time", "epochs_run", "value_sd")  # what a trial's run ends with


def study_info(name: str, record: StudyRecord | None, paths: Paths) -> StudyInfo:
    tags: dict[str, str] = {}
    if record is not None:
        tags = {
            "space": str(record.space),
            "data": str(record.data),
            "epochs": str(record.epochs),
            "seed": str(record.seed),
            "objective": ",".join(record.objective or ["accuracy"]),
        }
    return StudyInfo(name, paths.folder(name), tags)


def open_tracking(
    names: Sequence[str], name: str, record: StudyRecord | None, paths: Paths, say: bool = False
) -> Tracking:
    """The study's trackers in this process (none: an empty Tracking); `say` logs where to
    look at its runs."""
    if not names:
        return Tracking()
    check_installed(names)
    tracking = Tracking.open(names, study_info(name, record, paths))
    if say:
        for line in tracking.where():
            log.info("tracking in %s", line)
    return tracking


def epoch_scalars(row: dict[str, Any]) -> dict[str, float]:
    """A history row (automl.train.fit) as the scalars every tracker logs."""
    return {out: float(row[key]) for key, out in EPOCH_SCALARS.items() if row.get(key) is not None}


def trial_start(
    number: int, params: dict[str, Any], recheck_of: int | None, retries: dict[str, Any] | None
) -> RunStart:
    """A trial's run: a search trial's or a re-check's; a retry's names the trial (and the
    runs) it carries on."""
    tags: dict[str, str] = {}
    if recheck_of is not None:
        tags["recheck_of"] = str(recheck_of)
    if retries:
        tags["retry_of"] = str(retries["trial"])
        tags |= {f"retry_of_{k}": v for k, v in retries.get("runs", {}).items()}
    return RunStart("recheck" if recheck_of is not None else "trial", number, params, tags)


def end_trial(
    run: TrackedRun, attrs: dict[str, Any], state: str, values: dict[str, float] | None = None
) -> None:
    """The trial's run ended: its size and value(s), and why it stopped (from its record)."""
    summary = {k: attrs[k] for k in ENDED if attrs.get(k) is not None}
    run.summary(summary | (values or {}))
    reason = ""
    if state == PRUNED:
        reason = attrs.get("pruned_reason") or "pruned"
    elif state == FAILED:
        reason = attrs.get("fail_reason") or "failed"
    run.end(state, reason)


def track_final(
    names: Sequence[str], name: str, record: StudyRecord, paths: Paths, final: Any,
    model_path: Path, figures: list[Path],
) -> None:  # fmt: skip
    """finalize's run (`final`: its FinalRun), logged once it has scored: the retrain's
    epochs, the test metrics, the figures, metrics.json and model.pt's path."""
    tracking = open_tracking(names, name, record, paths)
    if not tracking:
        return
    start = RunStart("finalize", final.run, dict(final.params), {"trial": str(final.trial)})
    run = tracking.start(start)
    for step, row in enumerate(final.history or [], 1):
        run.epoch(step, epoch_scalars(row))
    metrics = {f"test_{k}": v for k, v in final.metrics.items() if isinstance(v, int | float)}
    run.summary({**metrics, "test_loss": final.test_loss, "model_path": str(model_path.resolve())})
    run.files(figures)
    run.end()
    tracking.finish()
    for line in tracking.where():
        log.info("finalize run tracked in %s", line)


def track_report(names: Sequence[str], name: str, record: Any, paths: Paths, files: list[Path]):
    """The report's figures, kept with the study's own run."""
    tracking = open_tracking(names, name, record, paths)
    if tracking:
        tracking.study_files(files)
        tracking.finish()
