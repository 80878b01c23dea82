"""optuna-dashboard started with the artifact directory serves what finalize and report uploaded."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from automl.errors import StorageError
from automl.paths import Paths
from automl.reporting.dashboard import dashboard_command

START_TIMEOUT = 30.0


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        return response.read()


@pytest.fixture
def served(reported, serve_dashboard, free_port):
    """(argv, base URL) of optuna-dashboard run with the command `automl dashboard` uses."""
    studies_dir, _ = reported
    cmd, url = dashboard_command("fin", studies_dir=studies_dir, port=free_port())
    return cmd, serve_dashboard(cmd, url)


def test_dashboard_serves_uploaded_artifacts(reported, served):
    studies_dir, index = reported
    cmd, url = served
    assert cmd[1:5] == [f"sqlite:///{studies_dir / 'fin.db'}", "--artifact-dir",
                        str(Paths(studies_dir).artifacts("fin")), "--host"]  # fmt: skip
    assert cmd[5] == "127.0.0.1"
    summary = json.loads(fetch(f"{url}/api/studies"))["study_summaries"][0]
    detail = json.loads(fetch(f"{url}/api/studies/{summary['study_id']}"))
    arts = {a["filename"]: a for a in detail["artifacts"]}
    final = studies_dir / "fin" / "final"
    report_dir = index.parent
    expected = {
        "metrics.json": final / "metrics.json",  # uploaded by finalize
        "confusion_matrix.png": report_dir / "figures" / "confusion_matrix.png",
        "index.html": index,  # uploaded by report
        "grad_cam.png": report_dir / "figures" / "grad_cam.png",
        "pareto.png": report_dir / "figures" / "pareto.png",
    }
    assert set(expected) <= set(arts)
    assert arts["metrics.json"]["mimetype"] == "application/json"
    assert arts["pareto.png"]["mimetype"] == "image/png"
    for name, path in expected.items():  # one artifact per name, holding the latest upload
        assert sum(a["filename"] == name for a in detail["artifacts"]) == 1
        body = fetch(f"{url}/artifacts/{summary['study_id']}/{arts[name]['artifact_id']}")
        assert body == Path(path).read_bytes(), name


def test_dashboard_command_for_an_unknown_study(tmp_path):
    with pytest.raises(StorageError):
        dashboard_command("nope", studies_dir=tmp_path)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_automl_dashboard_prints_the_url_serves_and_stops_with_its_server(
    reported, free_port, stop
):
    studies_dir, _ = reported
    port = free_port()
    automl = Path(sys.executable).with_name("automl")
    proc = subprocess.Popen(
        [
            str(automl),
            "dashboard",
            "--study",
            "fin",
            "--studies-dir",
            str(studies_dir),
            "--port",
            str(port),
        ],  # fmt: skip
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # Ctrl-C as a shell delivers it, even when this test runner ignores SIGINT
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        first = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}" in first
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                studies = json.loads(fetch(f"http://127.0.0.1:{port}/api/studies"))
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
        assert [s["study_name"] for s in studies["study_summaries"]] == ["fin"]
        proc.send_signal(stop)
        assert proc.wait(timeout=20) == 0
        assert "dashboard stopped" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with pytest.raises(urllib.error.URLError):  # the server went with it
        fetch(f"http://127.0.0.1:{port}/api/studies")


def test_automl_dashboard_on_a_taken_port_is_a_one_line_error(reported, free_port):
    import socket

    from typer.testing import CliRunner

    from automl.cli import app

    studies_dir, _ = reported
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", free_port()))
        taken.listen()
        port = taken.getsockname()[1]
        res = CliRunner().invoke(
            app, ["dashboard", "--study", "fin", "--studies-dir", str(studies_dir),
                  "--port", str(port)],
        )  # fmt: skip
    assert res.exit_code == 2, res.output
    assert f"if port {port} is taken, pass --port" in res.output
    assert "Traceback" not in res.output
