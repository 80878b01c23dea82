"""Every tracker, through its real library and offline: a run's params, scalars per epoch,
summary and end, read back by that library's own reader (readers.py)."""

from __future__ import annotations

import logging
import socket

import pytest

from automl.track import PRUNED, RunStart, StudyInfo, Tracking, list_trackers
from tests.track.readers import mlflow_runs, tensorboard_runs, wandb_runs

PARAMS = {"lr": 0.003, "activation": "gelu", "batch_norm": True, "base_filters": 32}
EPOCHS = [{"train_loss": 1.5 - e / 10, "val_acc": 0.5 + e / 10, "lr": 0.003} for e in range(3)]


def write_study(tracker: str, folder, runs: int = 2) -> Tracking:
    tracking = Tracking.open([tracker], StudyInfo("s", folder, {"space": "scratch_cnn"}))
    assert tracking.live(), f"{tracker} did not open"
    for number in range(runs):
        run = tracking.start(RunStart("trial", number, PARAMS, {"retry_of": "7"}))
        for step, scalars in enumerate(EPOCHS, 1):
            run.epoch(step, scalars)
        run.summary({"params": 12345, "value": 0.7})
        run.end(PRUNED, "dominated after epoch 3")
    tracking.finish()
    return tracking


def test_every_tracker_is_listed():
    assert list_trackers() == ["mlflow", "wandb", "tensorboard"]


def test_mlflow_keeps_a_parent_and_a_child_per_run(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    write_study("mlflow", tmp_path)
    write_study("mlflow", tmp_path, runs=1)  # a second process on the study: the same parent
    runs = mlflow_runs(tmp_path)
    parents = [r for r in runs if r.tags.get("automl.role") == "study"]
    assert len(parents) == 1 and parents[0].name == "s"
    children = [r for r in runs if r is not parents[0]]
    assert len(children) == 3
    parent_id = {r.tags["mlflow.parentRunId"] for r in children}
    assert len(parent_id) == 1
    child = children[0]
    assert child.params == {k: str(v) for k, v in PARAMS.items()}
    assert child.scalars["val_acc"] == {1: 0.5, 2: 0.6, 3: 0.7}
    assert child.scalars["params"] == {0: 12345}
    assert child.status == "KILLED"
    assert child.tags["automl.state"] == "pruned"
    assert child.tags["automl.reason"] == "dominated after epoch 3"
    assert child.tags["automl.retry_of"] == "7"


def test_tensorboard_keeps_a_folder_per_run_with_its_hparams(tmp_path):
    write_study("tensorboard", tmp_path)
    runs = tensorboard_runs(tmp_path)
    assert sorted(runs) == ["trial-0000", "trial-0001"]
    run = runs["trial-0000"]
    assert run.scalars["val_acc"] == pytest.approx({1: 0.5, 2: 0.6, 3: 0.7})
    assert run.scalars["hparam/value"] == pytest.approx({0: 0.7})
    assert run.summary["end"] == "pruned: dominated after epoch 3"
    assert (tmp_path / "tensorboard" / "trial-0000").glob("events.out.tfevents.*")


def test_wandb_writes_offline_runs_in_the_study_group(tmp_path, monkeypatch):
    for name in ("WANDB_MODE", "WANDB_API_KEY", "WANDB_DIR", "WANDB_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))  # not logged in: offline
    write_study("wandb", tmp_path)
    runs = wandb_runs(tmp_path)
    assert [r.name for r in runs] == ["s trial 0", "s trial 1"]
    run = runs[0]
    assert run.tags == {"group": "s", "job_type": "trial"}
    assert {k: run.params[k] for k in PARAMS} == PARAMS
    assert run.scalars["val_acc"] == {1: 0.5, 2: 0.6, 3: 0.7}
    assert run.summary["state"] == "pruned" and run.summary["params"] == 12345
    assert run.status == "0"


def test_an_mlflow_server_that_is_down_is_one_warning(tmp_path, monkeypatch, caplog):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
    with caplog.at_level(logging.WARNING, logger="automl.track"):
        tracking = Tracking.open(["mlflow"], StudyInfo("s", tmp_path))
        run = tracking.start(RunStart("trial", 0, PARAMS))
        run.epoch(1, EPOCHS[0])
        run.end()
    assert not tracking and run.ids == {}
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 1 and warned[0].startswith("mlflow tracking failed (start: ")


def test_the_report_s_figures_go_to_the_study_s_own_run(tmp_path, monkeypatch):
    import matplotlib.image

    from automl.paths import Paths
    from automl.track.study import track_report

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    figure = tmp_path / "figures" / "history.png"
    figure.parent.mkdir()
    matplotlib.image.imsave(figure, [[0.0, 1.0], [1.0, 0.0]])
    track_report(["mlflow", "tensorboard"], "s", None, Paths(tmp_path), [figure])
    folder = tmp_path / "s"
    (parent,) = mlflow_runs(folder)
    assert parent.tags["automl.role"] == "study"
    assert [p.name for p in (folder / "mlartifacts").rglob("report/*")] == ["history.png"]
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder / "tensorboard" / "study"))
    events.Reload()
    assert events.Tags()["images"] == ["history"]
