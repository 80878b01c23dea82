"""Experiment trackers (`--track mlflow|wandb|tensorboard`): a run per trial grouped under its
study, per-epoch scalars, the trial's end; finalize's and the report's figures (docs/tracking.md).

    names.py        the trackers' names and extras, checked without importing them
    base.py         Tracker and Run, what every tracker does
    tracking.py     Tracking: the trackers of a process, each call guarded (one warning)
    study.py        what automl logs: a trial's run, finalize's, the report's
    *_tracker.py    one file per tracker, registered by name
"""

from automl.track.base import COMPLETED, FAILED, PRUNED, RunStart, StudyInfo
from automl.track.names import parse_track
from automl.track.tracking import Tracking, create_tracker, list_trackers

__all__ = [
    "COMPLETED",
    "FAILED",
    "PRUNED",
    "RunStart",
    "StudyInfo",
    "Tracking",
    "create_tracker",
    "list_trackers",
    "parse_track",
]
