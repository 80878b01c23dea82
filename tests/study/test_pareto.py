"""Accuracy against cost: the objectives a study takes, its front, hypervolume and knee, and
the rule that prunes a two-objective search."""

import re
from types import SimpleNamespace

import pytest

from automl import ConfigError
from automl.study.objectives import Objectives, accuracy_of
from automl.study.pareto import (
    ParetoRungs,
    Point,
    front,
    hypervolume,
    knee,
    layers,
    study_front,
)
from automl.study.samplers import settled_pruner


def test_objectives_read_as_people_write_them():
    assert Objectives.parse(None) == Objectives() and not Objectives().multi
    both = Objectives.parse("accuracy,params")
    assert both == Objectives.parse(("params", "accuracy")) == Objectives.parse(" Accuracy, params")
    assert both.names == ["accuracy", "params"] and both.directions == ["maximize", "minimize"]
    assert Objectives.parse("accuracy").names == ["accuracy"]
    assert Objectives.parse("accuracy,latency").measured == "latency_ms"
    assert Objectives.stored(None) == Objectives()
    assert both.show_cost(1_234_567) == "1.23M params"


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("accuracy,speed", r"unknown objective 'speed' .* params, flops, latency"),
        ("params", r"--objective=params leaves out accuracy"),
        ("accuracy,params,flops", r"at most one cost \(params, flops, latency\), got accuracy"),
        ("accuracy,accuracy", r"at most one cost"),
    ],
)
def test_a_bad_objective_is_one_line_naming_the_choices(given, said):
    with pytest.raises(ConfigError) as caught:
        Objectives.parse(given)
    assert re.search(said, caught.value.cli_message) and "\n" not in str(caught.value)


def test_samplers_and_pruners_must_fit_the_objectives():
    both = Objectives("params")
    assert settled_pruner(None, "tpe", both) == "pareto"
    assert settled_pruner(None, "tpe", Objectives()) == "hyperband"
    assert settled_pruner("none", "nsga2", both) == "none"
    with pytest.raises(ConfigError, match="pruner.median needs one objective.*pareto"):
        settled_pruner("median", "tpe", both)
    with pytest.raises(ConfigError, match="sampler.cmaes handles one objective.*nsga2"):
        settled_pruner(None, "cmaes", both)
    with pytest.raises(ConfigError, match="pruner.pareto ranks trials on accuracy and a cost"):
        settled_pruner("pareto", "tpe", Objectives())


P = [Point(0, 0.5, 10), Point(1, 0.7, 100), Point(2, 0.6, 200), Point(3, 0.9, 1000),
     Point(4, 0.4, 10), Point(5, 0.7, 100)]  # fmt: skip


def test_the_front_is_what_nothing_beats_on_both():
    assert [p.trial for p in front(P)] == [0, 1, 3]  # 5 equals 1: the first trial stands
    assert [sorted(p.trial for p in layer) for layer in layers(P)] == [
        [0, 1, 3, 5], [2, 4],
    ]  # fmt: skip
    assert not Point(5, 0.7, 100).dominates(Point(1, 0.7, 100))


def test_hypervolume_is_the_area_the_front_dominates():
    # from the reference (accuracy 0, cost 1000): 0.5 x (100 - 10) + 0.7 x (1000 - 100)
    assert hypervolume(P, (0.0, 1000.0)) == pytest.approx(0.5 * 90 + 0.7 * 900)
    assert hypervolume([], (0.0, 1.0)) == 0.0
    assert hypervolume(P, (0.95, 1000.0)) == 0.0  # nothing better than the reference


def test_the_knee_is_where_more_cost_stops_buying_accuracy():
    bent = [Point(0, 0.5, 1e3), Point(1, 0.9, 1e4), Point(2, 0.92, 1e6)]
    assert knee(bent).trial == 1
    straight = [Point(0, 0.5, 1e3), Point(1, 0.6, 1e4), Point(2, 0.7, 1e5)]
    assert knee(straight) is None and knee(bent[:2]) is None


def _trial(number, params, accuracies, state="COMPLETE", recheck_of=None):
    history = [{"epoch": e + 1, "val_acc": a} for e, a in enumerate(accuracies)]
    attrs = {"params": params, "history": history}
    if recheck_of is not None:
        attrs["recheck_of"] = recheck_of
    values = [accuracies[-1], float(params)] if state == "COMPLETE" else None
    return SimpleNamespace(number=number, state=state, values=values, user_attrs=attrs)


def test_a_rung_stops_a_trial_that_cheaper_better_ones_outnumber():
    rule, both = ParetoRungs(epochs=9), Objectives("params")
    assert rule.rungs == [1, 3]
    study = [
        _trial(0, 1_000, [0.8, 0.9]),
        _trial(1, 2_000, [0.7, 0.8]),
        _trial(2, 500, [0.6, 0.7], state="PRUNED"),  # a pruned trial's epochs still count
        _trial(3, 1_000, [0.9, 0.9], recheck_of=0),  # re-checks are left out
    ]
    # dominated by trials 0, 1 and 2 (all 3 lie in layers before it: over a third)
    why = rule.decide(9, 1, 5_000, 0.5, study, both)
    assert why == "dominated after epoch 1 by 3 of 3 trials (accuracy and params)"
    # the cheapest model goes on though it is the least accurate: nothing cheaper beats it
    assert rule.decide(9, 1, 100, 0.1, study, both) is None
    # the most accurate goes on, however costly
    assert rule.decide(9, 1, 10**9, 0.95, study, both) is None
    assert rule.decide(9, 2, 5_000, 0.5, study, both) is None  # not a rung
    assert rule.decide(9, 1, 5_000, 0.5, study[:2], both) is None  # under 4 trials: no verdict


def test_a_rung_keeps_every_trial_on_its_front():
    rule = ParetoRungs(epochs=4)
    points = [Point(i, 0.1 * i, 10.0**i) for i in range(1, 8)]  # each one a front member
    assert not any(rule.stops(p, [q for q in points if q != p]) for p in points)


def test_the_front_of_a_study_merges_re_checks_and_reads_costs():
    both = Objectives("params")
    study = [
        _trial(0, 1_000, [0.9]),
        _trial(1, 5_000, [0.95]),
        _trial(2, 1_000, [0.7], recheck_of=0),  # trial 0's mean: 0.8
        _trial(3, 900, [0.85], state="PRUNED"),
    ]
    assert [(p.trial, p.accuracy) for p in study_front(study, both)] == [(0, 0.8), (1, 0.95)]
    assert accuracy_of(study[1]) == 0.95 and accuracy_of(study[3]) is None


def test_the_search_summary_counts_the_epochs_pruning_saved():
    from automl.study.listing import spent

    study = [
        _trial(0, 1_000, [0.5, 0.6, 0.7, 0.8]),
        _trial(1, 2_000, [0.3], state="PRUNED"),  # 3 of 4 epochs saved
        _trial(2, 3_000, [0.2, 0.3], state="PRUNED"),  # 2 saved
    ]
    for t in study:
        t.user_attrs["epochs_run"] = len(t.user_attrs["history"])
    account = spent(study, SimpleNamespace(epochs=4, cv=None))
    assert account.saved == 5 and "2 pruned (5 epochs saved)" in account.line()
    assert spent(study).saved == 0  # without the study's epochs: not counted


def test_the_python_api_takes_the_objectives_as_a_tuple_or_a_string():
    from automl.settings import SearchOptions

    assert SearchOptions(objective=("accuracy", "params")).objective == ("accuracy", "params")
    assert SearchOptions(objective="flops,accuracy").objective == ("accuracy", "flops")
    assert SearchOptions().objective is None  # accuracy, or a rerun's study's
    with pytest.raises(ConfigError, match="objective=params leaves out accuracy"):
        SearchOptions(objective="params")
