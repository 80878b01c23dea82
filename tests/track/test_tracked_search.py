"""A tracked study end to end on the built-in digits: with two workers, every trial has exactly
one run in each tracker, with its params and one step per epoch it ran; finalize's run."""

from __future__ import annotations

import shutil

import pytest
from optuna.trial import TrialState

import automl
from automl.api import _track_finalized
from automl.study.storage import default_storage, load_study
from tests.track.readers import mlflow_runs, tensorboard_runs, wandb_runs

TINY = {
    "resolution": 32,
    "epochs": 2,
    "recheck": 0,
    "seed": 0,
    "portfolio": False,
    "fix": {"base_filters": 16, "dense_units": 64, "batch_size": 128},
}  # small and quick
STATES = {TrialState.COMPLETE: "completed", TrialState.PRUNED: "pruned"}


def epochs_of(trial) -> list[int]:
    return list(range(1, len(trial.user_attrs["history"]) + 1))


@pytest.mark.slow
def test_a_tracked_search_with_two_workers(tmp_path, monkeypatch):
    for name in ("MLFLOW_TRACKING_URI", "WANDB_MODE", "WANDB_API_KEY", "WANDB_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))  # W&B: not logged in, offline
    study = automl.search(
        study="t", trials=6, workers=2, studies_dir=tmp_path,
        track=["mlflow", "tensorboard", "wandb"], **TINY,
    )  # fmt: skip
    trials = [t for t in study.trials if t.state in STATES]
    assert len(trials) >= 6 and all(t.state in STATES for t in study.trials)
    folder = tmp_path / "t"

    runs = mlflow_runs(folder)
    parents = [r for r in runs if r.tags.get("automl.role") == "study"]
    children = {int(r.tags["automl.number"]): r for r in runs if r not in parents}
    assert len(parents) == 1 and len(children) == len(runs) - 1 == len(trials)
    assert parents[0].status == "FINISHED"  # every worker, and the search, ended
    boards = tensorboard_runs(folder)
    assert sorted(boards) == [f"trial-{t.number:04d}" for t in trials]
    wandb = {r.name: r for r in wandb_runs(folder)}
    assert sorted(wandb) == sorted(f"t trial {t.number}" for t in trials)
    for trial in trials:
        run, board, w = (
            children[trial.number],
            boards[f"trial-{trial.number:04d}"],
            wandb[f"t trial {trial.number}"],
        )
        assert run.params == {k: str(v) for k, v in trial.params.items()}
        assert {k: w.params[k] for k in trial.params} == trial.params
        accuracy = {i: row["val_acc"] for i, row in enumerate(trial.user_attrs["history"], 1)}
        assert run.scalars["val_acc"] == accuracy  # one step per epoch run, no more
        assert w.scalars["val_acc"] == accuracy
        assert board.scalars["val_acc"] == pytest.approx(accuracy)  # float32 in its events
        for name in ("train_loss", "lr", "epoch_seconds"):
            assert sorted(run.scalars[name]) == sorted(w.scalars[name]) == epochs_of(trial)
            assert sorted(board.scalars[name]) == epochs_of(trial)
        assert run.scalars["params"] == {0: trial.user_attrs["params"]}
        assert run.tags["automl.state"] == w.summary["state"] == STATES[trial.state]
        if trial.state == TrialState.PRUNED:
            assert run.tags["automl.reason"] == trial.user_attrs["pruned_reason"]
            assert run.status == "KILLED"
        assert trial.user_attrs["tracked"]["mlflow"]


def test_finalize_s_run_is_tracked(finalized, tmp_path, monkeypatch):
    """What `automl finalize` logs once it has scored (automl.api), on the session's finalized
    digits study copied here: its epochs, test metrics, figures and model.pt's path."""
    for name in ("MLFLOW_TRACKING_URI", "WANDB_MODE", "WANDB_API_KEY", "WANDB_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    studies_dir, result = finalized
    shutil.copytree(studies_dir, tmp_path, dirs_exist_ok=True)
    folder = tmp_path / result.study
    the_study = load_study(result.study, default_storage(result.study, tmp_path))
    _track_finalized(result, None, the_study, tmp_path)  # the study tracks nothing: no run
    assert not (folder / "mlflow.db").exists()

    _track_finalized(result, ("mlflow", "tensorboard", "wandb"), the_study, tmp_path)
    (final,) = [r for r in mlflow_runs(folder) if r.tags.get("automl.role") == "finalize"]
    assert final.name == f"final {result.run}" and final.status == "FINISHED"
    assert final.tags["automl.trial"] == str(result.trial)
    assert final.scalars["test_accuracy"] == {0: result.metrics["accuracy"]}
    epochs = len(final.scalars["train_loss"])
    assert epochs >= 1 and sorted(final.scalars["train_loss"]) == list(range(1, epochs + 1))
    assert final.tags["automl.model_path"] == str(result.model_path.resolve())
    artifacts = {p.name for p in (folder / "mlartifacts").rglob("*") if p.is_file()}
    assert {"confusion_matrix.png", "per_class_f1.png", "metrics.json"} <= artifacts
    board = tensorboard_runs(folder)[f"final-{result.run:04d}"]
    assert board.scalars["hparam/test_accuracy"] == pytest.approx({0: result.metrics["accuracy"]})
    (w,) = wandb_runs(folder)
    assert w.name == f"{result.study} final {result.run}" and w.tags["job_type"] == "finalize"
    assert w.summary["test_accuracy"] == result.metrics["accuracy"]
