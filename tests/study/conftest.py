"""Study fixtures: a real PostgreSQL server on loopback, started once for the session."""

from __future__ import annotations

import pytest

from .postgres import install_if_missing, running_server


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server in a temporary folder (installed first where it is missing); the
    tests that use it skip, saying why, only where it cannot be had at all."""
    pytest.importorskip("psycopg", reason="psycopg is not installed: pip install -e '.[postgres]'")
    why = install_if_missing()
    if why:
        pytest.skip(why)
    with running_server() as server:
        yield server


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.xdist_group("postgres"))]
)
def storage_url(request, tmp_path):
    """A fresh storage URL: an SQLite file, then a new PostgreSQL database (its tests run in
    the xdist group of `postgres_server`, tests/conftest.py SHARED, which holds the server)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'study.db'}"
    return request.getfixturevalue("postgres_server").new_database()
