"""The study keeps its trackers: a rerun or a worker that leaves --track out tracks the same
way; a rerun's --track replaces them, --track none stops them."""

from __future__ import annotations

from automl.settings import Machine, SearchOptions, Workspace
from automl.study.check import prepare
from automl.study.create import create_or_resume


def made(tmp_path, track) -> list[str]:
    """The study's trackers after a search with `track` that runs no trial."""
    options = SearchOptions(
        study="k", trials=1, epochs=1, resolution=32, recheck=0, portfolio=False, track=track
    )
    workspace = Workspace(tmp_path)
    ready = create_or_resume(prepare(options, workspace, Machine("cpu", "fp32")), workspace, 1)
    return ready.record.track


def test_a_rerun_keeps_replaces_or_stops_the_study_trackers(tmp_path):
    assert made(tmp_path, ["tensorboard", "mlflow"]) == ["tensorboard", "mlflow"]
    assert made(tmp_path, None) == ["tensorboard", "mlflow"]  # left out: kept
    assert made(tmp_path, "wandb") == ["wandb"]
    assert made(tmp_path, "none") == []
    assert made(tmp_path, None) == []
