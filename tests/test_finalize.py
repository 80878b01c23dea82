"""finalize: retrain from params alone, score the held-out split exactly once, write atomically."""

import json

import optuna
import pytest
import torch

import automl
from automl import StorageError, StudyError
from automl.data import sources


def test_finalize_writes_model_and_metrics(finalized):
    studies_dir, result = finalized
    assert result.run == 1 and not result.forced
    assert result.model_path == studies_dir / "fin" / "final" / "model.pt"
    metrics = json.loads(result.metrics_path.read_text())
    assert metrics["accuracy"] == result.test_accuracy
    assert metrics["test_images"] == 360 and metrics["train_images"] == 1437
    assert set(metrics["per_class"]) == {str(i) for i in range(10)}
    cm = metrics["confusion_matrix"]
    assert len(cm) == 10 and sum(map(sum, cm)) == 360
    assert sum(cm[i][i] for i in range(10)) / 360 == pytest.approx(metrics["accuracy"])
    assert {"f1_macro", "f1_micro", "history", "trial", "params"} <= set(metrics)
    assert metrics["previous_runs"] == []
    blob = torch.load(result.model_path, weights_only=True)
    assert blob["classes"] == [str(i) for i in range(10)] and blob["resolution"] == 32
    assert len(blob["mean"]) == 1 and blob["in_chans"] == 1
    study = optuna.load_study(study_name="fin", storage=f"sqlite:///{studies_dir}/fin.db")
    (run,) = study.user_attrs["final_runs"]
    assert run["accuracy"] == result.test_accuracy and run["trial"] == study.best_trial.number


def test_finalize_uses_the_best_trials_epochs_and_seed(finalized):
    studies_dir, result = finalized
    study = optuna.load_study(study_name="fin", storage=f"sqlite:///{studies_dir}/fin.db")
    metrics = json.loads(result.metrics_path.read_text())
    best = study.best_trial
    assert metrics["epochs"] == best.user_attrs["epochs_run"] == len(metrics["history"])
    assert metrics["seed"] == best.user_attrs["seed"] and metrics["params"] == best.params


def test_test_once_rule(tmp_path):
    automl.search(study="once", trials=1, studies_dir=tmp_path, resolution=32, epochs=1, recheck=0)
    first = automl.finalize("once", studies_dir=tmp_path)
    with pytest.raises(StudyError, match="already scored on its held-out split.*pass force=True"):
        automl.finalize("once", studies_dir=tmp_path)
    second = automl.finalize("once", studies_dir=tmp_path, force=True)
    assert second.run == 2 and second.forced
    assert second.test_accuracy == pytest.approx(first.test_accuracy, abs=0.02)  # same seed
    metrics = json.loads(second.metrics_path.read_text())
    assert metrics["forced"] and [r["run"] for r in metrics["previous_runs"]] == [1]
    study = optuna.load_study(study_name="once", storage=f"sqlite:///{tmp_path}/once.db")
    assert [(r["run"], r["forced"]) for r in study.user_attrs["final_runs"]] == [
        (1, False),
        (2, True),
    ]


def test_search_never_reads_the_held_out_split(tmp_path, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("held-out split read during search")

    monkeypatch.setattr(sources.DigitsSource, "held_out", forbidden)
    automl.search(study="h", trials=1, studies_dir=tmp_path, resolution=32, epochs=1, recheck=0)


def test_finalize_without_completed_trial(tmp_path):
    storage = f"sqlite:///{tmp_path}/empty.db"
    automl.search(study="empty", trials=1, studies_dir=tmp_path, resolution=32, epochs=1, recheck=0)
    study = optuna.load_study(study_name="empty", storage=storage)
    study.add_trial(optuna.create_trial(state=optuna.trial.TrialState.FAIL))
    fresh = optuna.create_study(study_name="fresh", storage=storage)
    for key, value in study.user_attrs.items():
        fresh.set_user_attr(key, value)
    with pytest.raises(StudyError, match="has no completed trial yet; run `automl search` first"):
        automl.finalize("fresh", storage=storage, studies_dir=tmp_path)


def test_finalize_missing_study(tmp_path):
    with pytest.raises(StorageError, match="no study database at"):
        automl.finalize("ghost", studies_dir=tmp_path)
    automl.search(study="real", trials=1, studies_dir=tmp_path, resolution=32, epochs=1, recheck=0)
    with pytest.raises(StorageError, match="no study named 'ghost'.*found: real"):
        automl.finalize("ghost", storage=f"sqlite:///{tmp_path}/real.db", studies_dir=tmp_path)


def test_finalize_refuses_foreign_study(tmp_path):
    storage = f"sqlite:///{tmp_path}/plain.db"
    optuna.create_study(study_name="plain", storage=storage)
    with pytest.raises(StudyError, match="was not made by `automl search`"):
        automl.finalize("plain", storage=storage)


def test_interrupted_finalize_still_counts_as_a_look(tmp_path, monkeypatch):
    automl.search(study="cut", trials=1, studies_dir=tmp_path, resolution=32, epochs=1, recheck=0)
    from automl.study import finalize as module

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(module, "evaluate", crash)
    with pytest.raises(KeyboardInterrupt):
        automl.finalize("cut", studies_dir=tmp_path)
    monkeypatch.undo()
    with pytest.raises(StudyError, match="a run started .* did not finish.*force=True"):
        automl.finalize("cut", studies_dir=tmp_path)
    assert automl.finalize("cut", studies_dir=tmp_path, force=True).forced


def test_outputs_follow_the_umask(finalized):
    _, result = finalized
    assert result.model_path.stat().st_mode & 0o044  # readable by others under umask 022
