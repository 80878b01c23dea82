"""--track is checked before anything is made: a name that is not a tracker, or a tracker
whose package is missing, is one line naming the fix."""

from __future__ import annotations

import importlib.util

import pytest
from typer.testing import CliRunner

from automl.cli import app
from automl.errors import ConfigError
from automl.settings import SearchOptions, WorkerOptions
from automl.track.names import parse_track


def test_names_are_parsed_repeated_or_comma_separated():
    assert parse_track(None) is None
    assert parse_track([]) == ()
    assert parse_track(["mlflow", "TensorBoard,mlflow"]) == ("mlflow", "tensorboard")
    assert parse_track("none") == ()
    assert SearchOptions(track="wandb").track == ("wandb",)
    assert WorkerOptions(track=["none"]).track == ()


def test_an_unknown_tracker_names_the_choices():
    with pytest.raises(ConfigError) as caught:
        parse_track(["comet"])
    assert caught.value.cli_message == (
        "unknown tracker 'comet' for --track; choose from: mlflow, wandb, tensorboard, none"
    )
    with pytest.raises(ConfigError) as caught:
        parse_track(["none", "mlflow"])
    assert caught.value.cli_message == "--track none tracks nothing; it cannot go with mlflow"


def test_a_missing_tracker_names_its_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a)
    )
    with pytest.raises(ConfigError) as caught:
        parse_track(["mlflow", "wandb"])
    assert caught.value.cli_message == (
        "--track wandb needs Weights & Biases, which is not installed: pip install 'automl[wandb]'"
    )


@pytest.mark.parametrize(
    "command", [["search"], ["worker", "--study", "s"], ["finalize", "--study", "s"]]
)
def test_the_cli_refuses_a_bad_tracker_before_any_study(tmp_path, command):
    result = CliRunner().invoke(
        app, [*command, "--studies-dir", str(tmp_path), "--track", "tensorbored"]
    )
    assert result.exit_code == 2, result.output
    assert "unknown tracker 'tensorbored'" in result.output
    assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_the_cli_passes_a_left_out_track_as_the_study_s(monkeypatch, tmp_path):
    """Left out, --track reaches search, worker and finalize as None (keep the study's)."""
    import automl.api
    import automl.study.search
    import automl.study.worker

    got = {}
    monkeypatch.setattr(
        automl.study.search, "search", lambda options, **kw: got.setdefault("search", options)
    )
    monkeypatch.setattr(
        automl.study.worker, "join", lambda study, ws, m, run, p: got.setdefault("worker", run)
    )
    monkeypatch.setattr(
        automl.api, "finalize", lambda **kw: got.setdefault("finalize", kw) and 1 / 0
    )
    runner, where = CliRunner(), ["--studies-dir", str(tmp_path)]
    runner.invoke(app, ["search", *where])
    runner.invoke(app, ["worker", "--study", "s", *where])
    runner.invoke(app, ["finalize", "--study", "s", *where])
    assert got["search"].track is None and got["worker"].track is None
    assert got["finalize"]["track"] is None
    got.clear()
    runner.invoke(app, ["search", "--track", "mlflow", "--track", "tensorboard", *where])
    runner.invoke(app, ["worker", "--study", "s", "--track", "none", *where])
    runner.invoke(app, ["finalize", "--study", "s", "--track", "wandb", *where])
    assert got["search"].track == ("mlflow", "tensorboard") and got["worker"].track == ()
    assert got["finalize"]["track"] == ["wandb"]
