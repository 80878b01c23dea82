"""Study fixtures: a real PostgreSQL server on loopback, started once for the test run."""

from __future__ import annotations

import os

import pytest

from .postgres import install_if_missing, running_server, shared_server


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory):
    """A PostgreSQL server in a temporary folder (installed first where it is missing); the
    tests that use it skip, saying why, only where it cannot be had at all. Under
    pytest-xdist the run's test processes share one server (their temporary folders have
    one parent), so its tests need not all run in one process."""
    pytest.importorskip("psycopg", reason="psycopg is not installed: pip install -e '.[postgres]'")
    why = install_if_missing()
    if why:
        pytest.skip(why)
    if os.environ.get("PYTEST_XDIST_WORKER"):
        with shared_server(tmp_path_factory.getbasetemp().parent) as server:
            yield server
    else:
        with running_server() as server:
            yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def storage_url(request, tmp_path):
    """A fresh storage URL: an SQLite file, then a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'study.db'}"
    return request.getfixturevalue("postgres_server").new_database()
