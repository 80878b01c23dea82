"""`automl report` on a study of accuracy against a cost: the front drawn, listed and refused
studies (synthetic two-objective studies made with optuna, no training)."""

from __future__ import annotations

import re

import optuna
import pytest
from optuna.trial import TrialState

from automl.errors import StudyError
from automl.reporting import report
from automl.reporting.figures import NotApplicable
from automl.reporting.search_figures import accuracy_against_cost, cost_front
from automl.study.objectives import Objectives
from automl.study.pareto import knee

from .synthetic import ATTRS, pareto_study

PARAMS = Objectives("params")


def true_front(trials) -> list[tuple[int, float, float]]:
    """(trial, accuracy, params) of the configurations no other one dominates, cheapest first,
    by brute force: a configuration's accuracy is the mean over its search trial and the
    re-checks of it."""
    runs: dict[int, list[float]] = {}
    cost = {}
    for t in trials:
        if t.state != TrialState.COMPLETE:
            continue
        of = t.user_attrs.get("recheck_of", t.number)
        runs.setdefault(of, []).append(t.values[0])
        cost[of] = float(t.user_attrs["params"])
    points = [(n, sum(v) / len(v), cost[n]) for n, v in runs.items()]

    def dominated(p):
        return any(q[1] >= p[1] and q[2] <= p[2] and (q[1] > p[1] or q[2] < p[2]) for q in points)

    return sorted((p for p in points if not dominated(p)), key=lambda p: p[2])


def front_table(html: str) -> list[list[str]]:
    """The rows of the table that follows the accuracy-against-cost figure."""
    after = html.split('id="fig-accuracy_against_cost"', 1)[1]
    table = re.search(r"<table>(.*?)</table>", after).group(1)
    rows = re.findall(r"<tr>(.*?)</tr>", table)
    assert re.findall(r"<th>(.*?)</th>", rows[0]) == ["trial", "validation accuracy", "params", ""]
    return [re.findall(r"<td>(.*?)</td>", r) for r in rows[1:]]


def test_the_front_drawn_is_the_true_front():
    study = pareto_study(None, "p")
    trials = study.get_trials(deepcopy=False)
    expected = true_front(trials)
    data = cost_front(trials, PARAMS)
    assert [(p.trial, p.cost) for p in data.front] == [(n, c) for n, _, c in expected]
    assert [p.accuracy for p in data.front] == pytest.approx([a for _, a, _ in expected])
    assert len(data.points) == 20 and data.pruned == 4  # 20 completed configurations (+ 1 re-check)
    fig = accuracy_against_cost(data, PARAMS)
    ax = fig.axes[0]
    (line,) = [ln for ln in ax.get_lines() if ln.get_gid() == "front"]
    assert list(line.get_xdata()) == [c for _, _, c in expected]
    assert list(line.get_ydata()) == pytest.approx([a for _, a, _ in expected])
    assert ax.get_xscale() == "log" and "parameters" in ax.get_xlabel()
    (marker,) = [c for c in ax.collections if c.get_gid() == "knee"]
    bend = knee(data.front)
    assert bend is not None and data.knee == bend
    assert marker.get_offsets().tolist() == [[bend.cost, bend.accuracy]]
    assert f"knee #{bend.trial}" in [t.get_text() for t in ax.texts]
    assert data.default.trial == max(expected, key=lambda p: p[1])[0]


def test_no_cost_recorded_is_not_drawn():
    study = optuna.create_study(directions=["maximize", "minimize"])
    study.add_trial(optuna.trial.create_trial(values=[0.5, 10.0]))
    data = cost_front(study.trials, PARAMS)
    assert data.points == [] and data.unmeasured == 1
    with pytest.raises(NotApplicable, match="no completed trial has its params recorded"):
        accuracy_against_cost(data, PARAMS)


def test_report_of_a_two_objective_study_draws_and_lists_its_front(tmp_path):
    storage = f"sqlite:///{tmp_path}/p.db"
    study = pareto_study(storage, "p")
    index = report("p", storage=storage, studies_dir=tmp_path, upload=False)
    html = index.read_text()
    png = index.parent / "figures" / "accuracy_against_cost.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "could not be drawn" not in html and "not shown," not in html
    for name in ("accuracy_over_time", "importance", "intermediate_values", "pareto"):
        assert f'id="fig-{name}"' in html
    trials = study.get_trials()
    expected = true_front(trials)
    rows = front_table(html)
    assert [r[0] for r in rows] == [f"#{n}" for n, _, _ in expected]
    assert [r[2] for r in rows] == [PARAMS.show_cost(c) for _, _, c in expected]
    bend = cost_front(trials, PARAMS).knee
    most_accurate = max(expected, key=lambda p: p[1])[0]
    roles = {r[0]: r[3] for r in rows if r[3]}
    assert roles == {
        f"#{bend.trial}": "knee",
        f"#{most_accurate}": "finalize&#x27;s default (the most accurate)",
    }
    checked = next(r for r in rows if r[0] == f"#{most_accurate}")  # re-checked once
    assert "± " in checked[1] and "(mean ± sd of 2 runs)" in checked[1]
    assert "4 pruned trial(s) are not shown" in html
    assert f"knee, #{bend.trial}," in html
    assert "Pareto front: 10 of 20 configurations" in html  # overview
    assert f"#{most_accurate}: validation accuracy" in html


@pytest.mark.parametrize(
    ("directions", "objective", "message"),
    [
        (["maximize", "minimize"], None,
         "optimises maximize, minimize but does not record its cost"),
        (["minimize", "maximize"], ["accuracy", "params"],
         "optimises minimize, maximize; automl report reads studies that maximise"),
        (["maximize"], ["accuracy", "params"],
         "optimises maximize; automl report reads studies that maximise"),
    ],
)  # fmt: skip
def test_studies_automl_did_not_make_are_refused(tmp_path, directions, objective, message):
    storage = f"sqlite:///{tmp_path}/x.db"
    study = optuna.create_study(study_name="x", storage=storage, directions=directions)
    for key, value in {**ATTRS, **({"objective": objective} if objective else {})}.items():
        study.set_user_attr(key, value)
    values = [0.5, 10.0][: len(directions)]
    study.add_trial(optuna.trial.create_trial(values=values))
    with pytest.raises(StudyError, match=message):
        report("x", storage=storage, studies_dir=tmp_path, upload=False)
