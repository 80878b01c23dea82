"""A throwaway PostgreSQL server for tests: `initdb` in a temporary folder, listening on
127.0.0.1 only, trust authentication, stopped (and its folder removed) at teardown; one per
test run, shared by the run's test processes."""

from __future__ import annotations

import contextlib
import fcntl
import glob
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path


def find_bin(name: str) -> str | None:
    """A PostgreSQL server program: on PATH, or where Debian puts it."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else None


def install_if_missing() -> str | None:
    """The reason PostgreSQL cannot be had here, or None once `initdb` is found (installing
    Debian's `postgresql` package where it is missing and we are root)."""
    if find_bin("initdb") and find_bin("pg_ctl"):
        return None
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return "PostgreSQL's initdb is not installed (Debian: apt-get install postgresql)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "postgresql"]):
        done = subprocess.run(command, env=env, capture_output=True, timeout=600)
        if done.returncode != 0:
            return f"{' '.join(command)} failed: {done.stderr.decode()[-300:]}"
    return None if find_bin("initdb") else "apt-get installed postgresql but initdb is missing"


def _as_server_user(argv: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its programs as the `postgres` user then."""
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", "postgres", "--", *argv]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, folder: Path, port: int) -> None:
        self.folder, self.port = folder, port
        self.pgdata = folder / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def execute(self, sql: str, database: str = "postgres") -> list[tuple]:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname=database, autocommit=True
        ) as conn:
            cur = conn.execute(sql)
            return cur.fetchall() if cur.description else []

    def new_database(self) -> str:
        """A fresh, empty database's SQLAlchemy URL."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        self.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def drop_connections(self, database: str) -> int:
        """End every other session on `database` (what a server restart does to clients)."""
        rows = self.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{database}' AND pid <> pg_backend_pid()"
        )
        return len(rows)


def start_server() -> Server:
    """`initdb` in a new temporary folder and the server started there (answering on TCP);
    stop it with `stop_server`."""
    folder = Path(tempfile.mkdtemp(prefix="automl-pg-"))
    os.chmod(folder, 0o777)  # the server user writes its data and socket here
    server = Server(folder, _free_port())
    log = folder / "server.log"
    pg_ctl = find_bin("pg_ctl")
    try:
        init = [find_bin("initdb"), "-D", str(server.pgdata), "-U", "postgres", "--auth=trust"]
        subprocess.run(_as_server_user(init), check=True, capture_output=True, timeout=120)
        options = f"-p {server.port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        start = [pg_ctl, "-D", str(server.pgdata), "-o", options, "-l", str(log), "-w", "start"]
        subprocess.run(_as_server_user(start), check=True, capture_output=True, timeout=120)
        deadline = time.monotonic() + 30
        while True:  # pg_ctl -w waits for the socket; wait for TCP too
            try:
                server.execute("SELECT 1")
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    except BaseException:
        stop_server(server)
        raise
    return server


def stop_server(server: Server) -> None:
    """Stop the server (if it runs) and remove its folder."""
    stop = [find_bin("pg_ctl"), "-D", str(server.pgdata), "-m", "immediate", "-w", "stop"]
    if server.pgdata.exists():
        subprocess.run(_as_server_user(stop), capture_output=True, timeout=60)
    shutil.rmtree(server.folder, ignore_errors=True)


@contextlib.contextmanager
def running_server() -> Iterator[Server]:
    server = start_server()
    try:
        yield server
    finally:
        stop_server(server)


@contextlib.contextmanager
def shared_server(run_dir: Path) -> Iterator[Server]:
    """One server for all the test processes of a run that share `run_dir` (pytest-xdist's
    workers): the first to ask starts it, the last to leave stops it. Its address and the
    number of processes using it are kept in `run_dir`/postgres.json, under a file lock."""
    state = run_dir / "postgres.json"
    with _locked(run_dir / "postgres.lock"):
        if state.exists():
            info = json.loads(state.read_text())
        else:
            started = start_server()
            info = {"folder": str(started.folder), "port": started.port, "users": 0}
        info["users"] += 1
        state.write_text(json.dumps(info))
    server = Server(Path(info["folder"]), info["port"])
    try:
        yield server
    finally:
        with _locked(run_dir / "postgres.lock"):
            info = json.loads(state.read_text())
            info["users"] -= 1
            if info["users"] > 0:
                state.write_text(json.dumps(info))
            else:
                state.unlink()
                stop_server(server)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
