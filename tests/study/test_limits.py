"""Deployment limits: models over --max-params/--max-flops/--max-latency-ms are pruned before
they train, every trial carries the constraints the sampler reads, and the study keeps them."""

import optuna
import pytest
from optuna.trial import TrialState
from typer.testing import CliRunner

import automl
from automl import ConfigError
from automl.cli import app
from automl.settings import Machine, WorkerOptions, Workspace
from automl.study.limits import Limits, parse_count
from automl.study.listing import spent
from automl.study.record import StudyRecord
from automl.study.worker import join

TINY = {"resolution": 32, "epochs": 2, "pruner": "none", "portfolio": False, "recheck": 0}
# scratch_cnn at 32 px spans about 10k to 5M parameters: a cut at 60k splits its models
CUT = 60_000


def _load(tmp_path, name):
    return optuna.load_study(study_name=name, storage=f"sqlite:///{tmp_path}/{name}.db")


def test_counts_read_as_people_write_them():
    assert parse_count("2000000", "--max-params") == 2_000_000
    assert parse_count("1.5M", "--max-params") == 1_500_000
    assert parse_count("300k", "--max-flops") == 300_000
    assert parse_count("2G", "--max-flops") == 2_000_000_000
    with pytest.raises(ConfigError, match=r"max_flops must be a number such as .* got 'lots'"):
        parse_count("lots", "--max-flops")
    with pytest.raises(ConfigError, match="max_params must be a positive number"):
        parse_count("0", "--max-params")


def test_limits_give_scale_free_constraints_and_say_what_is_over():
    limits = Limits(max_params=1000, max_latency_ms=2.0)
    measured = {"params": 1500, "flops": 10**9, "latency_ms": 1.0}
    assert limits.constraints(measured) == {"params": 0.5, "latency_ms": -0.5}
    (over,) = limits.violations(measured)
    assert str(over) == "1.5k parameters > --max-params 1k parameters"
    with pytest.raises(ConfigError, match="max_latency_ms must be a positive number, got -1"):
        Limits(max_latency_ms=-1)
    assert not Limits() and Limits.from_dict(limits.to_dict()) == limits


@pytest.mark.slow
def test_models_over_a_limit_are_pruned_untrained_and_the_study_keeps_the_limits(tmp_path):
    automl.search(study="s", trials=8, studies_dir=tmp_path, seed=1, **TINY, limits=Limits(CUT))
    study = _load(tmp_path, "s")
    assert StudyRecord.from_study(study).limits == {"max_params": CUT}
    over = [t for t in study.trials if t.user_attrs.get("over_limits")]
    fits = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert over and fits, "the cut should split this space's models"
    for t in over:
        assert t.state == TrialState.PRUNED
        assert t.user_attrs["epochs_run"] == 0 and t.intermediate_values == {}
        assert t.user_attrs["params"] > CUT
        assert "> --max-params 60k parameters" in t.user_attrs["pruned_reason"]
    for t in fits:
        assert t.user_attrs["params"] <= CUT and t.user_attrs["epochs_run"] == 2
    # every finished trial tells the sampler how far it is from the feasible region
    for t in study.trials:
        assert t.constraints == {"params": pytest.approx(t.user_attrs["params"] / CUT - 1)}
    assert spent(study.trials).over_limits == len(over)

    # a rerun that leaves the option out, and a worker, keep the study's limit
    automl.search(study="s", trials=10, studies_dir=tmp_path)
    join("s", Workspace(tmp_path), Machine(), WorkerOptions(trials=11))
    study = _load(tmp_path, "s")
    assert len(study.trials) == 11
    assert all("params" in t.constraints for t in study.trials)
    assert StudyRecord.from_study(study).limits == {"max_params": CUT}

    # a rerun that gives a limit replaces that one and keeps the others
    automl.search(study="s", trials=11, studies_dir=tmp_path, limits=Limits(max_flops=10**9))
    assert StudyRecord.from_study(_load(tmp_path, "s")).limits == {
        "max_params": CUT,
        "max_flops": 10**9,
    }


@pytest.mark.slow
def test_latency_is_measured_only_when_limited_and_prunes_before_training(tmp_path):
    automl.search(study="fast", trials=2, studies_dir=tmp_path, **TINY)
    assert all("latency_ms" not in t.user_attrs for t in _load(tmp_path, "fast").trials)
    automl.search(
        study="slow", trials=2, studies_dir=tmp_path, **TINY, limits=Limits(max_latency_ms=1e-4)
    )
    for t in _load(tmp_path, "slow").trials:
        assert t.state == TrialState.PRUNED and t.user_attrs["epochs_run"] == 0
        assert t.user_attrs["latency_ms"] > 1e-4
        assert t.user_attrs["over_limits"] == ["max_latency_ms"]


def test_the_report_shows_the_limits_next_to_the_pareto_figure(tmp_path):
    automl.search(study="r", trials=6, studies_dir=tmp_path, seed=1, **TINY, limits=Limits(CUT))
    index = automl.report("r", studies_dir=tmp_path, upload=False)
    text = index.read_text()
    assert "Deployment limits: --max-params 60k parameters." in text
    assert text.index("Deployment limits") < text.index('id="fig-pareto"')


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-params", "big"], "--max-params must be a number such as"),
        (["--max-flops", "-3"], "--max-flops must be a positive number"),
        (["--max-latency-ms", "0"], "--max-latency-ms must be a positive number"),
    ],
)
def test_a_bad_limit_is_one_line_before_any_study(tmp_path, args, message):
    result = CliRunner().invoke(app, ["search", "--studies-dir", str(tmp_path), *args])
    assert result.exit_code != 0
    assert message in result.output and "Traceback" not in result.output
    assert not list(tmp_path.glob("*.db"))
