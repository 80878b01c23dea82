"""`automl delete`: a study out of its storage and its folder, nothing else."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import optuna

from automl.errors import StudyError
from automl.paths import STUDIES_DIR, Paths
from automl.study.storage import default_storage, load_study, sqlite_path


@dataclass(frozen=True)
class Deleted:
    study: str
    trials: int
    storage: str
    removed: tuple[Path, ...]  # the study's folder, and its database file when it held only it


def count_trials(
    study: str, *, storage: str | None = None, studies_dir: str | Path = STUDIES_DIR
) -> int:
    """The trials of `study`, which must exist (else a one-line error naming where it looked)."""
    url = storage or default_storage(study, studies_dir)
    database = sqlite_path(url)
    if database is not None and not database.is_file():
        raise StudyError(f"no study named {study!r} in {url}; `automl studies` lists them")
    return len(load_study(study, url).get_trials(deepcopy=False))


def delete_study(
    study: str, *, storage: str | None = None, studies_dir: str | Path = STUDIES_DIR
) -> Deleted:
    """Remove `study` (its trials, attributes and artifacts list) from its storage and its
    folder `studies/<study>/` (final model, report, logs). Other studies in the same storage,
    the shared image cache and anything outside the studies folder are left alone."""
    url = storage or default_storage(study, studies_dir)
    trials = count_trials(study, storage=url)  # a missing study: one line, nothing touched
    _remove_checkpoints(study, url, Paths(studies_dir))
    optuna.delete_study(study_name=study, storage=url)
    removed = []
    folder = Paths(studies_dir).folder(study)
    if folder.is_dir():
        shutil.rmtree(folder)
        removed.append(folder)
    database = sqlite_path(url)
    if storage is None and database is not None and not optuna.get_all_study_names(url):
        database.unlink(missing_ok=True)  # the per-study file of the default storage
        removed.append(database)
    return Deleted(study, trials, url, tuple(removed))


def _remove_checkpoints(study: str, url: str, paths: Paths) -> None:
    """The study's checkpoints in a store `--artifacts` named (the default one is in its
    folder, removed with it)."""
    from automl.study.checkpoints import Checkpoints
    from automl.study.record import read_partial

    the_study = load_study(study, url)
    where = read_partial(the_study).artifacts
    if where is not None:
        Checkpoints.of(where, paths, study, 0).remove_all(the_study)
