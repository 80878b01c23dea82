"""A two-objective search end to end: the study, its front, a worker joining it, a rerun with
other objectives refused, and finalize of any front member."""

import optuna
import pytest
from optuna.trial import TrialState
from typer.testing import CliRunner

from automl.cli import app
from automl.modelfile import load_model
from automl.settings import Machine, WorkerOptions, Workspace
from automl.study.listing import list_studies
from automl.study.objectives import Objectives
from automl.study.pareto import study_front
from automl.study.record import StudyRecord
from automl.study.worker import join

SEARCH = ["search", "--study", "p", "--epochs", "2", "--resolution", "32", "--recheck", "0",
          "--no-portfolio", "--seed", "1"]  # fmt: skip


@pytest.mark.slow
def test_a_pareto_search_then_finalize_of_any_front_member(tmp_path):
    where = ["--studies-dir", str(tmp_path)]
    runner = CliRunner()
    both = ["--objective", "accuracy,params"]
    result = runner.invoke(app, [*SEARCH, *both, "--trials", "4", *where])
    assert result.exit_code == 0, result.output
    assert "Pareto front" in result.output and "finalize --study p" in result.output

    join("p", Workspace(tmp_path), Machine(), WorkerOptions(trials=5))  # a worker: the same
    study = optuna.load_study(study_name="p", storage=f"sqlite:///{tmp_path}/p.db")
    assert len(study.directions) == 2
    assert StudyRecord.from_study(study).objective == ["accuracy", "params"]
    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert len(study.trials) == 5 and done
    for t in done:  # [accuracy, cost]: the cost is the model's recorded size
        assert t.values[1] == t.user_attrs["params"] and 0 <= t.values[0] <= 1
    for t in study.trials:
        if t.state == TrialState.PRUNED:
            assert t.user_attrs["pruned_reason"].startswith("dominated after epoch 1")
    front = study_front(study.trials, Objectives("params"))
    assert front and list_studies(studies_dir=tmp_path)[0].front == len(front)

    other = runner.invoke(app, [*SEARCH, "--objective", "accuracy,flops", *where])
    assert other.exit_code == 2
    assert "--objective=accuracy,params, not accuracy,flops" in other.output

    member = front[0]  # the cheapest: finalize's default would take the most accurate
    final = runner.invoke(app, ["finalize", "--study", "p", "--trial", str(member.trial), *where])
    assert final.exit_code == 0, final.output
    assert f"trial #{member.trial} retrained" in final.output
    model = load_model(tmp_path / "p" / "final" / "model.pt", "cpu").model
    recorded = study.trials[member.trial].user_attrs["params"]
    assert sum(p.numel() for p in model.parameters()) == recorded


def test_finalize_trial_refuses_what_it_cannot_retrain(digits_study):
    studies_dir, name = digits_study
    runner = CliRunner()
    where = ["--study", name, "--studies-dir", str(studies_dir)]
    unknown = runner.invoke(app, ["finalize", *where, "--trial", "99"])
    assert unknown.exit_code == 2
    assert "has no trial 99; --trial takes a completed trial: 0, 1, 2" in unknown.output
    assert "Traceback" not in unknown.output


def test_finalize_trial_names_why_a_trial_cannot_be_retrained():
    from types import SimpleNamespace

    from automl.errors import StudyError
    from automl.study.finalize import _given
    from automl.study.noise import configs

    def trial(number, state, values=None, **attrs):
        return SimpleNamespace(number=number, state=state, values=values, user_attrs=attrs)

    trials = [
        trial(0, "COMPLETE", [0.9, 1e4], params=1e4),
        trial(1, "PRUNED", pruned_reason="dominated after epoch 1 by 2 of 4 trials"),
        trial(2, "COMPLETE", [0.8, 1e3], params=1e3, recheck_of=0),
        trial(3, "RUNNING"),
    ]
    found, both = configs(trials), Objectives("params")
    assert _given("s", 0, trials, found, both).trial == 0
    said = {}
    for number in (1, 2, 3, 7):
        with pytest.raises(StudyError) as caught:
            _given("s", number, trials, found, both)
        said[number] = caught.value.cli_message
    assert said[1] == (
        "trial 1 of study 's' was pruned (dominated after epoch 1 by 2 of 4 trials); --trial "
        "takes a completed trial: the front's 0, or any of 0"
    )
    assert said[2].startswith("trial 2 re-checks trial 0; pass --trial 0")
    assert said[3].startswith("trial 3 of study 's' has not finished; --trial takes")
    assert said[7].startswith("study 's' has no trial 7; --trial takes")
