"""Where studies live: `sqlite:///studies/<study>.db` by default, any SQLAlchemy URL otherwise."""

from __future__ import annotations

import warnings
from pathlib import Path

import optuna
import sqlalchemy
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, NoSuchModuleError

from automl.errors import StorageError

SQLITE_BUSY_TIMEOUT = 60  # seconds a worker waits for another's write lock


def default_storage(study: str, studies_dir: str | Path = "studies") -> str:
    return f"sqlite:///{Path(studies_dir) / f'{study}.db'}"


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL, None for other back ends and in-memory SQLite."""
    parsed = _parse(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _parse(url: str) -> sqlalchemy.engine.URL:
    try:
        return make_url(url)
    except (ArgumentError, ValueError):
        raise StorageError(
            f"bad storage URL {url!r}; expected e.g. sqlite:///studies/NAME.db or "
            "postgresql://user:password@host/db"
        ) from None


def open_storage(
    url: str, *, must_exist: bool = False, heartbeat_interval: int | None = None
) -> optuna.storages.RDBStorage:
    """An RDB storage; with `heartbeat_interval`, a dead worker's RUNNING trial turns FAIL and
    is queued again once (`RetryHeartbeatStaleTrialCallback`)."""
    parsed = _parse(url)
    path = sqlite_path(url)
    engine_kwargs = {}
    if path is not None:
        if must_exist and not path.is_file():
            raise StorageError(f"no study database at {path}; pass --storage with its URL")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(
                f"cannot create {path.parent} for the study database: "
                f"{exc.strerror}; pass another --storage"
            ) from None
    if parsed.get_backend_name() == "sqlite":
        engine_kwargs = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT}}
    try:
        with warnings.catch_warnings():  # the heartbeat is stable in practice, still "experimental"
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            heartbeat = {}
            if heartbeat_interval:
                retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1)
                heartbeat = {
                    "heartbeat_interval": heartbeat_interval,
                    "grace_period": 2 * heartbeat_interval,
                    "heartbeat_stale_trial_callback": retry,
                }
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, **heartbeat)
    except NoSuchModuleError:
        raise StorageError(
            f"storage URL {url!r} names a database SQLAlchemy has no driver for; "
            "use sqlite:///... or install the driver (e.g. psycopg2 for postgresql://)"
        ) from None
    except (DatabaseError, ImportError) as exc:  # OperationalError is a DatabaseError
        detail = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        raise StorageError(f"cannot open storage {url!r}: {detail}") from None


def load_study(study: str, storage: str) -> optuna.Study:
    try:
        return optuna.load_study(study_name=study, storage=open_storage(storage, must_exist=True))
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        raise StorageError(
            f"no study named {study!r} in {storage}; found: {', '.join(names) or 'none'}"
        ) from None


def fail_stale_trials(study: optuna.Study) -> None:
    """Turn RUNNING trials of dead workers into FAIL now (heartbeat storages only)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def is_optuna_sqlite(path: Path) -> bool:
    """True for an SQLite file that already holds Optuna's tables (opening others would add
    them)."""
    import sqlite3

    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            row = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='studies'"
            ).fetchone()
        return row is not None
    except sqlite3.DatabaseError:
        return False
