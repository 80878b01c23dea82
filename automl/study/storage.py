"""Where studies live: `sqlite:///studies/<study>.db` by default, any SQLAlchemy URL otherwise."""

from __future__ import annotations

import logging
import random
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import optuna
import sqlalchemy
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, NoSuchModuleError

from automl.errors import StorageError
from automl.paths import STUDIES_DIR
from automl.settings import Workspace

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT = 60  # seconds a worker waits for another's write lock
SQLITE_WORKERS = 4  # more workers than this on one SQLite file: suggest PostgreSQL
RETRIES = 3  # times a configuration is queued again after its trial was cut short (resumed)
SCHEMA_ATTEMPTS = 8  # processes creating a fresh database's tables at once: retries of the losers
# Each worker holds its own pool: keep it small so that many workers stay under the
# server's max_connections (optuna#1347), and test connections before use, so that one the
# server dropped while idle is replaced instead of failing the worker (optuna#5600).
SERVER_ENGINE = {"pool_pre_ping": True, "pool_size": 2, "max_overflow": 2, "pool_recycle": 1800}
INSTALL = {  # driver module -> how to install it, where it is not `pip install <module>`
    "psycopg": "pip install 'automl[postgres]' (psycopg 3, what postgresql:// uses)",
    "mysqldb": "pip install mysqlclient, or use mysql+pymysql:// with pymysql",
}


def default_storage(study: str, studies_dir: str | Path = STUDIES_DIR) -> str:
    return Workspace(studies_dir).storage_for(study)


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


def database_folder(path: Path) -> None:
    """The folder of the SQLite file `path`, made if missing; refused in one line if it
    cannot be."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(
            f"cannot create {path.parent} for the study database: "
            f"{exc.strerror}; pass another --storage"
        ) from None


def open_storage(
    url: str, *, must_exist: bool = False, heartbeat_interval: int | None = None
) -> optuna.storages.RDBStorage:
    """An RDB storage; with `heartbeat_interval`, a dead worker's RUNNING trial turns FAIL and
    is queued again, up to RETRIES times in a row (`RetryHeartbeatStaleTrialCallback`); the
    retry resumes from the trial's checkpoint (checkpoints.py)."""
    parsed = _parse(url)
    path = sqlite_path(url)
    engine_kwargs = {}
    if path is not None:
        if must_exist and not path.is_file():
            raise StorageError(f"no study database at {path}; pass --storage with its URL")
        database_folder(path)
    if parsed.get_backend_name() == "sqlite":
        engine_kwargs = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT}}
    else:
        engine_kwargs = dict(SERVER_ENGINE)
    heartbeat = {}
    if heartbeat_interval:
        with warnings.catch_warnings():  # stable in practice, still "experimental"
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=RETRIES)
        heartbeat = {
            "heartbeat_interval": heartbeat_interval,
            "grace_period": 2 * heartbeat_interval,
            "heartbeat_stale_trial_callback": retry,
        }
    shown = parsed.render_as_string(hide_password=True)
    for attempt in range(SCHEMA_ATTEMPTS):
        try:
            with warnings.catch_warnings():  # the heartbeat too
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, **heartbeat)
        except NoSuchModuleError:
            raise StorageError(
                f"storage URL {shown!r} names a database SQLAlchemy has no driver for; "
                "use sqlite:///... or postgresql://..."
            ) from None
        except ImportError:
            module = parsed.get_driver_name()
            install = INSTALL.get(module.lower(), f"pip install {module}")
            raise StorageError(
                f"storage URL {shown!r} needs the Python module {module}, which is not "
                f"installed; {install}"
            ) from None
        except DatabaseError as exc:  # OperationalError, IntegrityError... are DatabaseErrors
            retry = _lost_schema_race(exc) or connection_lost(exc)
            if retry and attempt + 1 < SCHEMA_ATTEMPTS:
                time.sleep(random.uniform(0.05, 0.2) * (attempt + 1))  # the winner finishes
                continue
            detail = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
            raise StorageError(f"cannot open storage {shown!r}: {detail}") from None
    raise AssertionError("unreachable")


# What a database server says when a connection that worked is lost (a restart, a dropped
# idle connection, a network blip), as opposed to a wrong URL or password.
LOST = (
    "terminating connection",
    "server closed the connection",
    "connection reset",
    "could not receive data",
    "ssl connection has been closed",
    "connection is closed",
    "the database system is starting up",
    "the database system is shutting down",
    "consuming input failed",
)
REFUSED = ("connection refused", "could not connect")
RECONNECT_SECONDS = 60.0  # how long a worker keeps trying to reach a lost storage
T = TypeVar("T")


def connection_lost(exc: BaseException, *, refused_too: bool = False) -> bool:
    """True when `exc` (or what caused it) says the database connection was lost."""
    signs = LOST + (REFUSED if refused_too else ())
    while exc is not None:  # only what the database driver raised counts, not a trial's error
        if isinstance(exc, sqlalchemy.exc.DBAPIError):
            text = str(exc.orig or exc).lower()
            if exc.connection_invalidated or any(sign in text for sign in signs):
                return True
        exc = exc.__cause__ or exc.__context__
    return False


def reconnecting(step: Callable[[], T], *, refused_too: bool = True) -> T:
    """`step()`, run again after the storage's connection is lost for a while (a restarted or
    briefly unreachable database server); RECONNECT_SECONDS without it is an error. A trial
    that a loss interrupted is failed by the heartbeat and run again. `refused_too=False`
    for a first contact: a server that refuses it is a wrong URL, said at once."""
    lost = 0.0  # seconds waited since the storage last answered
    while True:
        started = time.monotonic()
        try:
            return step()
        except Exception as exc:  # optuna may mask a failed tell with an AssertionError,
            if not connection_lost(exc, refused_too=refused_too):  # so judge it by its causes
                raise
            if time.monotonic() - started > RECONNECT_SECONDS:
                lost = 0.0  # it worked for a while before this loss
            if lost >= RECONNECT_SECONDS:
                raise StorageError(
                    f"lost the connection to the study's storage for {lost:.0f} s; rerun the "
                    "same command when the database is back (the study is kept)"
                ) from None
            delay = min(max(lost, 0.5), 8.0)  # 0.5, 0.5, 1, 2, 4, 8, 8... seconds
            log.warning("lost the connection to the storage; reconnecting in %.1f s", delay)
            time.sleep(delay)
            lost += delay


def _lost_schema_race(exc: DatabaseError) -> bool:
    """Another process created the same tables a moment before us (a fresh database that
    several workers open at once): SQLite's duplicate alembic row or existing table,
    PostgreSQL's duplicate type or relation. Retrying finds the tables made."""
    text = str(getattr(exc, "orig", exc)).lower()
    signs = ("already exists", "unique constraint", "duplicate key", "database is locked")
    return any(sign in text for sign in signs)


def load_study(study: str, storage: str, *, heartbeat_interval: int | None = None) -> optuna.Study:
    rdb = open_storage(storage, must_exist=True, heartbeat_interval=heartbeat_interval)
    try:
        return optuna.load_study(study_name=study, storage=rdb)
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        raise StorageError(
            f"no study named {study!r} in {storage}; found: {', '.join(names) or 'none'}"
        ) from None


def storage_for_workers(url: str, workers: int) -> None:
    """Several worker processes need a storage they can all reach: a database file or server."""
    parsed = _parse(url)
    if parsed.get_backend_name() == "sqlite":
        if sqlite_path(url) is None:
            raise StorageError(
                f"--workers {workers} needs a storage every worker process can open; "
                f"{url!r} is in memory: use a file (sqlite:///PATH) or postgresql://..."
            )
        if workers > SQLITE_WORKERS:
            log.warning(
                "%d workers on one SQLite file wait on each other's writes; above %d, use "
                "PostgreSQL (--storage postgresql://...; see docs/scaling.md)",
                workers,
                SQLITE_WORKERS,
            )


def fail_stale_trials(study: optuna.Study) -> None:
    """Turn RUNNING trials of dead workers into FAIL now (heartbeat storages only)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
