"""Shared fixtures: one small real study on the built-in digits, searched and finalized once."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import automl

HYMENOPTERA = Path(__file__).resolve().parents[2] / "shared" / "data" / "hymenoptera"
TINY = {"resolution": 32, "epochs": 2, "pruner": "none", "seed": 0, "recheck": 0}
# Params of a small scratch_cnn trial, for tests that enqueue known configs (fixture below).
_TINY_PARAMS = {
    "base_filters": 16,
    "filter_org": "same",
    "kernel_size": 3,
    "activation": "relu",
    "batch_norm": False,
    "dropout": 0.0,
    "dense_units": 64,
    "optimizer": "adamw",
    "lr": 3e-3,
    "weight_decay": 1e-4,
    "resolution": 32,
    "batch_size": 128,
    "augment": "none",
}


# Session fixtures worth building once: under `pytest -n N --dist loadgroup` (`make test`)
# every test that needs one runs in the same worker process, which builds it once. (The
# PostgreSQL server is shared across the processes instead, tests/study/postgres.py.)
SHARED = {"searched": "digits"}  # fixture -> xdist group
MAX_WORKERS = 4  # test processes under `-n auto`: more gain little and each holds torch


def pytest_configure(config):
    """Tests never touch the network: weights come from local caches and packages only (the
    download branch is tested with a fake hub, tests/models/test_weights.py).

    Under pytest-xdist, each of the N worker processes trains with its share of the cores
    (torch, and the automl processes the tests start, read OMP_NUM_THREADS): N processes
    with every core each would oversubscribe the CPU."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1 and "OMP_NUM_THREADS" not in os.environ:
        import torch

        from automl.train.machine import usable_cores

        threads = max(1, usable_cores() // workers)
        os.environ["OMP_NUM_THREADS"] = str(threads)
        torch.set_num_threads(threads)


def pytest_xdist_auto_num_workers(config):
    """`-n auto`: one test process per usable core (affinity and CPU quota), at most 4."""
    from automl.train.machine import usable_cores

    return min(MAX_WORKERS, usable_cores())


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items):
    """Group the tests that use a SHARED session fixture (a test already in a group keeps it),
    and run the tests marked slow first: under xdist, a long test that starts last keeps
    one process busy while the others have nothing left to do."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable
    for item in items:
        if item.get_closest_marker("xdist_group"):
            continue
        group = next((SHARED[f] for f in item.fixturenames if f in SHARED), None)
        if group:
            item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture
def tiny_params() -> dict:
    """A copy of the params of a small, fast scratch_cnn trial."""
    return dict(_TINY_PARAMS)


@pytest.fixture
def one_thread():
    """One torch thread: on a small shared CPU, oversubscribed threads make tiny work slower."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def searched(tmp_path_factory) -> Path:
    """The studies folder of a 3-trial digits study "fin", searched once: the fixtures below
    each use a copy, so that no test sees what another did to it."""
    studies_dir = tmp_path_factory.mktemp("searched")
    automl.search("scratch_cnn", study="fin", trials=3, studies_dir=studies_dir, **TINY)
    return studies_dir


@pytest.fixture(scope="session")
def digits_study(searched, tmp_path_factory) -> tuple[Path, str]:
    """(studies_dir, study name) of a 3-trial digits study that has not been finalized."""
    studies_dir = tmp_path_factory.mktemp("studies")
    shutil.copytree(searched, studies_dir, dirs_exist_ok=True)
    return studies_dir, "fin"


@pytest.fixture(scope="session")
def finalized(searched, tmp_path_factory) -> tuple[Path, automl.FinalResult]:
    """(studies_dir, result) of a digits study searched and finalized once."""
    studies_dir = tmp_path_factory.mktemp("final")
    shutil.copytree(searched, studies_dir, dirs_exist_ok=True)
    return studies_dir, automl.finalize("fin", studies_dir=studies_dir)


@pytest.fixture
def digit_png(tmp_path) -> Path:
    """A real digit scan from the held-out split (never trained on), as an 8x8 PNG."""
    from PIL import Image
    from sklearn.datasets import load_digits

    from automl.data import open_source

    name, label = open_source().held_out_index()[-1]  # "load_digits()[i]"
    i = int(name.split("[")[1].rstrip("]"))
    d = load_digits()
    assert d.target[i] == label
    path = tmp_path / f"digit_{label}.png"
    Image.fromarray((d.images[i] * 255 / 16).astype("uint8")).save(path)
    return path


def _get(url: str) -> bytes:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        return response.read()


@pytest.fixture
def free_port():
    """A function returning a free TCP port on 127.0.0.1."""
    import socket

    def pick() -> int:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]

    return pick


@pytest.fixture
def serve_dashboard(tmp_path):
    """Factory: run an optuna-dashboard argv and wait until `base`/api/studies answers (30 s);
    returns `base`. Every server started is stopped at teardown."""
    import subprocess
    import time
    import urllib.error

    procs: list[subprocess.Popen] = []
    log_path = tmp_path / "dashboard.log"

    def start(argv: list[str], base: str) -> str:
        with open(log_path, "wb") as log:  # the server keeps its own handle
            procs.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 30.0
        while True:
            if procs[-1].poll() is not None:
                pytest.fail(
                    f"optuna-dashboard exited {procs[-1].returncode}:\n{log_path.read_text()}"
                )
            try:
                _get(f"{base}/api/studies")
                return base
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    pytest.fail(f"optuna-dashboard did not answer in 30 s:\n{log_path.read_text()}")
                time.sleep(0.2)

    yield start
    from automl.reporting.dashboard import stop

    for proc in procs:
        stop(proc)


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of chromium: `.ci/run` installs it, so under CI=true a missing one is a failure."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        why = "chromium is not installed (apt-get install chromium; .ci/run does)"
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    return found


@pytest.fixture(scope="session", autouse=True)
def trackers_stay_home(tmp_path_factory):
    """The trackers' own side channels, for every test and the processes it starts: MLflow
    sends no usage telemetry (no network), W&B's service logs under a temporary folder, not
    ~/.cache/wandb."""
    keep = {k: os.environ.get(k) for k in ("MLFLOW_DISABLE_TELEMETRY", "WANDB_CACHE_DIR")}
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    os.environ["WANDB_CACHE_DIR"] = str(tmp_path_factory.mktemp("wandb-cache"))
    yield
    for key, value in keep.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
