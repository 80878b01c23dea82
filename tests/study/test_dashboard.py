"""optuna-dashboard started on a study's database serves its trials, params and user attrs."""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path

import optuna
import pytest

import automl

DASHBOARD = Path(sys.executable).with_name("optuna-dashboard")


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        return json.loads(response.read())


@pytest.fixture
def dashboard(serve_dashboard, free_port):
    """Start optuna-dashboard on a study's DB; yields a function (db path -> base URL)."""

    def start(db: Path) -> str:
        port = free_port()
        argv = [str(DASHBOARD), f"sqlite:///{db}", "--host", "127.0.0.1", "--port", str(port)]
        return serve_dashboard(argv, f"http://127.0.0.1:{port}")

    return start


def attrs(serialized: list[dict]) -> dict[str, str]:
    return {a["key"]: a["value"] for a in serialized}


def test_dashboard_serves_the_study(tmp_path, dashboard, one_thread, tiny_params):
    configs = [tiny_params, {**tiny_params, "filter_org": "half", "activation": "gelu"}]
    assert DASHBOARD.is_file(), f"no optuna-dashboard next to {sys.executable}"
    db = tmp_path / "dash.db"
    queued = optuna.create_study(study_name="dash", storage=f"sqlite:///{db}", direction="maximize")
    for params in configs:
        queued.enqueue_trial(params)
    study = automl.search(
        trials=2,
        epochs=1,
        study="dash",
        studies_dir=tmp_path,
        resolution=32,
        pruner="none",
        recheck=0,
    )
    trials = study.trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 2

    base = dashboard(db)

    summaries = get_json(f"{base}/api/studies")["study_summaries"]
    assert [s["study_name"] for s in summaries] == ["dash"]
    summary = summaries[0]
    assert summary["directions"] == ["maximize"]
    study_attrs = attrs(summary["user_attrs"])
    assert study_attrs["space"] == "scratch_cnn" and study_attrs["data"] == "digits"
    assert study_attrs["epochs"] == "1" and study_attrs["resolution"] == "32"

    detail = get_json(f"{base}/api/studies/{summary['study_id']}")
    assert detail["name"] == "dash" and detail["directions"] == ["maximize"]
    served = detail["trials"]
    assert [t["number"] for t in served] == [0, 1]
    assert [t["state"] for t in served] == ["Complete", "Complete"]
    assert [t["values"] for t in served] == [[t.value] for t in trials]
    best = max(trials, key=lambda t: t.value)
    assert [t["number"] for t in detail["best_trials"]] == [best.number]
    assert detail["has_intermediate_values"] is True
    for trial, expected in zip(served, configs, strict=True):
        params = {p["name"]: p["param_external_value"] for p in trial["params"]}
        assert params == {k: str(v) for k, v in expected.items()}
        assert trial["intermediate_values"] == [{"step": 1, "value": trial["values"][0]}]
        user = attrs(trial["user_attrs"])
        assert {"history", "epochs_run", "seed", "params", "flops", "wall_time"} <= user.keys()
        assert user["epochs_run"] == "1" and user["seed"] == str(trial["number"])
        history = json.loads(user["history"])
        assert [row["epoch"] for row in history] == [1]
        assert history[0]["val_acc"] == trial["values"][0]
    searched = {p["name"] for p in detail["union_search_space"]}
    assert {"filter_org", "activation", "lr", "resolution"} <= searched
    assert {"history", "epochs_run", "seed"} <= {a["key"] for a in detail["union_user_attrs"]}


def test_dashboard_serves_a_pareto_study_with_its_front(tmp_path, dashboard):
    from automl.study.objectives import Objectives
    from automl.study.pareto import study_front

    db = tmp_path / "front.db"
    study = optuna.create_study(
        study_name="front", storage=f"sqlite:///{db}", directions=["maximize", "minimize"]
    )
    x = optuna.distributions.FloatDistribution(0, 1)
    for i, (acc, params) in enumerate([(0.9, 5e5), (0.8, 4e4), (0.7, 9e4), (0.5, 1e4)]):
        study.add_trial(
            optuna.trial.create_trial(
                params={"x": i / 4}, distributions={"x": x}, values=[acc, params],
                user_attrs={"params": params},
            )
        )  # fmt: skip
    front = sorted(p.trial for p in study_front(study.trials, Objectives("params")))
    assert front == [0, 1, 3]

    base = dashboard(db)
    (summary,) = get_json(f"{base}/api/studies")["study_summaries"]
    detail = get_json(f"{base}/api/studies/{summary['study_id']}")
    assert detail["directions"] == ["maximize", "minimize"]  # its Pareto-front view
    assert sorted(t["number"] for t in detail["best_trials"]) == front
