"""Studies read straight from the tables of an Optuna SQLite file, for `automl studies`.

Importing Optuna (with SQLAlchemy, alembic and numpy) and opening one storage per file costs
about a second; the few rows a listing needs cost milliseconds through `sqlite3`. Only the
schema this module knows is read (Optuna's alembic revision and schema version below: those
of every Optuna from 3.2 to the one installed); any other file is read through Optuna by the
caller. tests/study/test_listing.py fails when the installed Optuna's schema is another one,
and checks that both ways read the same studies.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REVISION = "v3.2.0.a"  # alembic_version.version_num of the schema read here
SCHEMA_VERSION = 12  # version_info.schema_version of the same schema
STATES = ("RUNNING", "COMPLETE", "PRUNED", "FAIL", "WAITING")  # optuna's TrialState, in order
VALUES = {"INF_POS": float("inf"), "INF_NEG": float("-inf")}  # trial_values.value is NULL
BUSY_TIMEOUT = 60.0  # seconds to wait while a worker holds the write lock (as storage.py)


@dataclass(frozen=True)
class StoredTrial:
    """What a listing reads of a trial: as in optuna's FrozenTrial, `state` by its name."""

    number: int
    state: str  # one of STATES
    values: list[float] | None
    user_attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def value(self) -> float | None:
        return self.values[0] if self.values else None


@dataclass(frozen=True)
class StoredStudy:
    """What a listing reads of a study; FinalRun.stored reads its `user_attrs`, as
    TrialRecord.of reads a trial's."""

    name: str
    user_attrs: dict[str, Any]
    trials: list[StoredTrial]


def state_name(trial: Any) -> str:
    """A trial's state by its name: Optuna's TrialState's, or the one a StoredTrial holds."""
    return trial.state if isinstance(trial.state, str) else trial.state.name


class UnknownSchema(Exception):
    """The file holds Optuna's tables in a schema this module does not read."""


def is_optuna_sqlite(path: Path) -> bool:
    """True for an SQLite file that already holds Optuna's tables (opening others would add
    them)."""
    try:
        with contextlib.closing(_connect(path)) as con:
            return _has_studies_table(con)
    except sqlite3.DatabaseError:
        return False


def read_studies(path: Path) -> list[StoredStudy]:
    """Every study in the Optuna SQLite file `path`, in Optuna's order (a two-objective
    study's trials hold both values). UnknownSchema for another schema or values it does not
    know; sqlite3.Error when the file cannot be read (not SQLite, locked past the timeout)."""
    with contextlib.closing(_connect(path)) as con:
        con.execute("BEGIN")  # one snapshot, though workers may be writing
        (revision,) = _one(con, "SELECT version_num FROM alembic_version")
        (schema,) = _one(con, "SELECT schema_version FROM version_info")
        if (revision, schema) != (REVISION, SCHEMA_VERSION):
            raise UnknownSchema(f"Optuna schema {revision} ({schema})")
        studies = con.execute("SELECT study_id, study_name FROM studies ORDER BY study_id")
        names = dict(studies.fetchall())
        study_attrs = _attrs(con, "study")
        trial_attrs = _attrs(con, "trial")
        values: dict[int, list[float]] = {}
        rows = "SELECT trial_id, value, value_type FROM trial_values ORDER BY trial_id, objective"
        for trial_id, value, kind in con.execute(rows):
            if kind != "FINITE" and kind not in VALUES:
                raise UnknownSchema(f"trial value type {kind}")
            values.setdefault(trial_id, []).append(value if kind == "FINITE" else VALUES[kind])
        trials: dict[int, list[StoredTrial]] = {study_id: [] for study_id in names}
        rows = "SELECT trial_id, study_id, number, state FROM trials ORDER BY trial_id"
        for trial_id, study_id, number, state in con.execute(rows):
            if state not in STATES:
                raise UnknownSchema(f"trial state {state}")
            trial = StoredTrial(number, state, values.get(trial_id), trial_attrs.get(trial_id, {}))
            trials[study_id].append(trial)
    return [
        StoredStudy(name, study_attrs.get(study_id, {}), trials[study_id])
        for study_id, name in names.items()
    ]


def _connect(path: Path) -> sqlite3.Connection:
    """Read-only: a listing never changes a file (nor creates one)."""
    uri = f"{Path(path).resolve().as_uri()}?mode=ro"
    return sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT, isolation_level=None)


def _has_studies_table(con: sqlite3.Connection) -> bool:
    query = "SELECT 1 FROM sqlite_master WHERE type='table' AND name='studies'"
    return con.execute(query).fetchone() is not None


def _one(con: sqlite3.Connection, query: str) -> tuple:
    try:
        rows = con.execute(query).fetchall()
    except sqlite3.OperationalError as exc:  # no such table: not a schema Optuna finished
        raise UnknownSchema(str(exc)) from None
    if len(rows) != 1:
        raise UnknownSchema(f"{len(rows)} rows from {query}")
    return rows[0]


def _attrs(con: sqlite3.Connection, owner: str) -> dict[int, dict[str, Any]]:
    """study_id or trial_id -> its user attributes, each decoded from JSON as Optuna does."""
    found: dict[int, dict[str, Any]] = {}
    query = (
        f"SELECT {owner}_id, key, value_json FROM {owner}_user_attributes "
        f"ORDER BY {owner}_user_attribute_id"
    )
    for owner_id, key, value_json in con.execute(query):
        found.setdefault(owner_id, {})[key] = json.loads(value_json)
    return found
