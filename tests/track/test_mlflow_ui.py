"""The MLflow UI, served from a tracked study's own store, lists the study's runs in headless
Chromium: its parent run and every trial's run under it."""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from automl.track import COMPLETED, PRUNED, RunStart, StudyInfo, Tracking
from tests.browser import run

STUDY, TRIALS = "uistudy", 3
UP_SECONDS = 60.0  # the server's start-up: about 15 s on 2 busy cores
# The browser's virtual time per try (it runs ahead while the page waits on nothing, so 10 s of
# it take about 7 s on 2 busy cores); a second, longer try only when the first dump lacks the
# runs (a slow machine).
BUDGETS_MS = (10_000, 30_000)


def needed(what: str, found: object) -> None:
    """`.ci/run` installs the dev extras (mlflow): under CI=true a missing one is a failure,
    elsewhere a skip."""
    if not found:
        why = f"{what} is not installed"
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)


def write_study(folder: Path) -> tuple[str, str, dict[str, str]]:
    """A small study through automl's own tracker: (experiment id, parent run id, run title ->
    run id), the last trial pruned."""
    tracking = Tracking.open(["mlflow"], StudyInfo(STUDY, folder, {"space": "scratch_cnn"}))
    assert tracking.live(), "the MLflow tracker did not open"
    runs = {}
    for number in range(TRIALS):
        start = RunStart("trial", number, {"lr": 0.001 * (number + 1), "activation": "relu"})
        run = tracking.start(start)
        for step in (1, 2):
            run.epoch(step, {"train_loss": 1.0 / step, "val_acc": 0.5 + 0.1 * step + number / 100})
        run.summary({"params": 1234, "value": 0.7})
        if number == TRIALS - 1:
            run.end(PRUNED, "pruner stopped it after epoch 2")
        else:
            run.end(COMPLETED)
        runs[start.title] = run.ids["mlflow"]
    tracker = tracking.live()[0]
    tracking.finish()
    assert not tracking.failed
    return tracker.experiment_id, tracker.parent_id, runs


def serve(folder: Path, port: int, log_path: Path) -> subprocess.Popen:
    """`mlflow ui` on loopback over the study's store, in its own process group (it starts a
    uvicorn child), run in the folder of its log."""
    argv = [sys.executable, "-m", "mlflow", "ui", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}", "--workers", "1"]
    # No job runner: a second process to start, which nothing here uses; no telemetry.
    env = os.environ | {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "DO_NOT_TRACK": "true"}
    with open(log_path, "wb") as log:  # the server keeps its own handle
        return subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=log_path.parent,
            env=env,
            start_new_session=True,
        )


def wait_up(proc: subprocess.Popen, base: str, log_path: Path) -> float:
    """Seconds until `base`/health answers; a server that exits or stays silent fails the test
    with its output."""
    started = time.monotonic()
    while True:
        if proc.poll() is not None:
            pytest.fail(f"mlflow ui exited {proc.returncode}:\n{log_path.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2) as response:
                if response.status == 200:
                    return time.monotonic() - started
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() - started > UP_SECONDS:
            pytest.fail(
                f"mlflow ui did not answer {base}/health in {UP_SECONDS:.0f} s:\n"
                f"{log_path.read_text()[-4000:]}"
            )
        time.sleep(0.2)


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the server's process group, which it was the first of; SIGKILL to what is
    left of the group after 10 s."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        proc.poll()  # reaps the server; its children, if any, are reaped by init
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def dump_dom(chromium: str, tmp_path: Path, url: str, budget_ms: int) -> str:
    return run(chromium, tmp_path, f"--virtual-time-budget={budget_ms}", "--dump-dom", url).stdout


@pytest.mark.slow
def test_the_mlflow_ui_lists_the_study_parent_and_trial_runs(
    tmp_path, free_port, monkeypatch, chromium
):
    started = time.monotonic()
    needed("mlflow (pip install 'automl[mlflow]')", importlib.util.find_spec("mlflow"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # the study's own SQLite store
    folder = tmp_path / "studies" / STUDY
    experiment, parent, runs = write_study(folder)
    written = time.monotonic() - started

    port = free_port()
    base, log_path = f"http://127.0.0.1:{port}", tmp_path / "mlflow-ui.log"
    proc = serve(folder, port, log_path)
    try:
        up = wait_up(proc, base, log_path)
        # Sorted by time (the default), the UI nests the trials under their collapsed parent;
        # sorted by name it lists every run, the parent among them.
        url = (
            f"{base}/#/experiments/{experiment}/runs?orderByKey=attributes.run_name&orderByAsc=true"
        )
        for budget in BUDGETS_MS:
            dom = dump_dom(chromium, tmp_path, url, budget)
            if all(f"/runs/{run_id}" in dom for run_id in [parent, *runs.values()]):
                break
    finally:
        stop(proc)
    text = " ".join(re.sub(r"<[^>]+>", " ", dom).split())
    assert f"{TRIALS + 1} matching runs" in text, text[-3000:]
    assert f'href="#/experiments/{experiment}/runs/{parent}"' in dom  # the study's own run
    assert f">{STUDY}<" in dom
    for title, run_id in runs.items():
        assert f'href="#/experiments/{experiment}/runs/{run_id}"' in dom, title
        assert f">{title}<" in dom, title
    took = time.monotonic() - started
    print(f"runs written in {written:.1f} s, server up in {up:.1f} s, {took:.1f} s in all")
