"""A tracked study end to end on the built-in digits: two workers, then finalize; every
trial has exactly one run in each tracker, with its params and one step per epoch it ran."""

from __future__ import annotations

import pytest
from optuna.trial import TrialState

import automl
from tests.track.readers import mlflow_runs, tensorboard_runs, wandb_runs

TINY = {"resolution": 32, "epochs": 2, "recheck": 0, "seed": 0}
STATES = {TrialState.COMPLETE: "completed", TrialState.PRUNED: "pruned"}


def epochs_of(trial) -> list[int]:
    return list(range(1, len(trial.user_attrs["history"]) + 1))


@pytest.mark.slow
def test_a_tracked_search_with_two_workers_then_finalize(tmp_path, monkeypatch):
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

    result = automl.finalize("t", studies_dir=tmp_path)
    final = next(r for r in mlflow_runs(folder) if r.tags.get("automl.role") == "finalize")
    assert final.name == "final 1" and final.status == "FINISHED"
    assert final.scalars["test_accuracy"] == {0: result.metrics["accuracy"]}
    assert sorted(final.scalars["train_loss"]) == [1, 2]
    assert final.tags["automl.model_path"] == str(result.model_path.resolve())
    artifacts = {p.name for p in (folder / "mlartifacts").rglob("*.png")}
    assert {"confusion_matrix.png", "per_class_f1.png"} <= artifacts
    assert "final-0001" in tensorboard_runs(folder)
    assert any(r.name == "t final 1" for r in wandb_runs(folder))
