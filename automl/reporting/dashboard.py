"""optuna-dashboard for one study: its storage and artifact directory, on 127.0.0.1."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from automl.errors import ReportError
from automl.interrupt import stop_signals_interrupt
from automl.paths import STUDIES_DIR, Paths
from automl.study.storage import default_storage, load_study


def dashboard_command(
    study: str,
    *,
    storage: str | None = None,
    studies_dir: str | Path = STUDIES_DIR,
    port: int = 8080,
) -> tuple[list[str], str]:
    """(argv, URL) of optuna-dashboard serving `study` on 127.0.0.1:`port`."""
    url = storage or default_storage(study, studies_dir)
    load_study(study, url)  # an unknown study fails here with a one-line message
    exe = Path(sys.executable).with_name("optuna-dashboard")
    found = str(exe) if exe.is_file() else shutil.which("optuna-dashboard")
    if found is None:
        raise ReportError("optuna-dashboard is not installed; pip install optuna-dashboard")
    artifacts = Paths(studies_dir).artifacts(study)
    artifacts.mkdir(parents=True, exist_ok=True)
    cmd = [found, url, "--artifact-dir", str(artifacts), "--host", "127.0.0.1", "--port", str(port)]
    return cmd, f"http://127.0.0.1:{port}"


def serve(
    study: str,
    *,
    storage: str | None = None,
    studies_dir: str | Path = STUDIES_DIR,
    port: int = 8080,
    on_start: Callable[[str], None] = print,
) -> None:
    """Run optuna-dashboard for `study` until Ctrl-C (or until it exits on its own)."""
    cmd, url = dashboard_command(study, storage=storage, studies_dir=studies_dir, port=port)
    proc = subprocess.Popen(cmd)
    try:
        with stop_signals_interrupt():
            on_start(url)
            code = proc.wait()
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM: the server goes with us
        return
    finally:
        stop(proc)
    if code != 0:
        raise ReportError(
            f"optuna-dashboard exited with code {code} (its output is above); "
            f"if port {port} is taken, pass --port with a free one"
        )


def stop(proc: subprocess.Popen) -> None:
    """Terminate `proc` if it still runs; kill it after 10 s."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
