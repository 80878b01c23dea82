"""`automl studies`: every study with its best value and trial counts per state."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import TrialState

from automl.study.storage import is_optuna_sqlite, open_storage


@dataclass(frozen=True)
class StudyInfo:
    name: str
    storage: str
    best_value: float | None
    counts: dict[str, int]  # trial state name -> number of trials
    test_accuracy: float | None  # of the latest finalize run, if any


def list_studies(
    storage: str | None = None, studies_dir: str | Path = "studies"
) -> list[StudyInfo]:
    """Studies in `storage`, or in every `<studies_dir>/*.db` when no storage is given."""
    if storage:
        urls = [storage]
    else:  # only files that are Optuna databases: opening any other would add tables to it
        files = sorted(Path(studies_dir).glob("*.db"))
        urls = [f"sqlite:///{p}" for p in files if is_optuna_sqlite(p)]
    found = []
    for url in urls:
        rdb = open_storage(url, must_exist=True)
        for summary in optuna.get_all_study_summaries(rdb, include_best_trial=False):
            study = optuna.load_study(study_name=summary.study_name, storage=rdb)
            trials = study.get_trials(deepcopy=False)
            counts = {s.name: sum(t.state == s for t in trials) for s in TrialState}
            complete = [t.value for t in trials if t.state == TrialState.COMPLETE]
            runs = study.user_attrs.get("final_runs") or [{}]
            found.append(
                StudyInfo(
                    summary.study_name,
                    url,
                    max(complete, default=None),
                    {k: v for k, v in counts.items() if v},
                    runs[-1].get("accuracy"),
                )
            )
    return found
