"""Importance: pinned params are left out, fANOVA gets no conditional params, the answer holds."""

from __future__ import annotations

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from automl.reporting.summary import completed, importance_params, importances

DISTS = {
    "lr": FloatDistribution(1e-4, 1e-1, log=True),  # drives the value
    "dropout": FloatDistribution(0.0, 0.5),  # noise
    "resolution": IntDistribution(32, 128, step=32),  # pinned to 32, as the digits data does
    "optimizer": CategoricalDistribution(["adamw", "sgd"]),
    "momentum": FloatDistribution(0.8, 0.99),  # only with sgd
}


def study_with_a_pinned_param(n: int = 40) -> optuna.Study:
    rng = np.random.default_rng(0)
    study = optuna.create_study(direction="maximize")
    for i in range(n):
        p = {
            "lr": float(10 ** rng.uniform(-4, -1)),
            "dropout": float(rng.uniform(0, 0.5)),
            "resolution": 32,
            "optimizer": "sgd" if i % 4 == 0 else "adamw",
        }
        if p["optimizer"] == "sgd":
            p["momentum"] = float(rng.uniform(0.8, 0.99))
        value = 0.3 + 0.15 * (np.log10(p["lr"]) + 4) + rng.normal(0, 0.01)
        dists = {k: DISTS[k] for k in p}
        study.add_trial(create_trial(value=value, params=p, distributions=dists))
    return study


def test_params_assessed_per_evaluator():
    trials = completed(study_with_a_pinned_param())
    names, left_out = importance_params(trials, "ped_anova")
    assert names == ["dropout", "lr", "momentum", "optimizer"]
    assert left_out == {"resolution": "always 32"}
    names, left_out = importance_params(trials, "fanova")
    assert names == ["dropout", "lr", "optimizer"]
    assert left_out["momentum"] == "conditional (10 of 40 trials; fANOVA needs all)"


@pytest.mark.parametrize("evaluator", ["ped_anova", "fanova"])
def test_the_parameter_that_matters_ranks_first_and_pinned_ones_are_absent(evaluator):
    imp = importances(study_with_a_pinned_param(), evaluator)
    assert "resolution" not in imp.values and "resolution" in imp.left_out
    assert next(iter(imp.values)) == "lr"
    assert imp.values["lr"] > 0.5
    assert len(set(imp.values.values())) > 1  # not the uniform answer of a filtered-out study


def test_a_study_of_one_completed_trial_has_no_importance():
    study = optuna.create_study(direction="maximize")
    study.add_trial(create_trial(value=0.5, params={"lr": 0.01}, distributions={"lr": DISTS["lr"]}))
    study.add_trial(create_trial(state=TrialState.PRUNED, params={}, distributions={}))
    imp = importances(study)
    assert imp.values == {} and imp.left_out == {"lr": "always 0.01"}


@pytest.mark.parametrize("evaluator", ["ped_anova", "fanova"])
def test_a_two_objective_study_ranks_params_for_accuracy(evaluator):
    """Accuracy first, the cost second: lr drives accuracy, dropout the cost alone. A re-check
    (left out) makes the report re-create the study with both directions."""
    single = study_with_a_pinned_param()
    study = optuna.create_study(directions=["maximize", "minimize"])
    for t in single.trials:
        cost = 1e6 * (1 + 10 * t.params["dropout"])
        study.add_trial(
            create_trial(values=[t.value, cost], params=t.params, distributions=t.distributions)
        )
    best = max(study.trials, key=lambda t: t.values[0])
    study.add_trial(
        create_trial(
            values=best.values,
            params=best.params,
            distributions=best.distributions,
            user_attrs={"recheck_of": best.number},
        )
    )
    imp = importances(study, evaluator)
    assert next(iter(imp.values)) == "lr" and imp.values["lr"] > 0.5
    # the very answer of the study of accuracy alone (PED-ANOVA's top trials: the most accurate)
    assert imp.values == pytest.approx(importances(single, evaluator).values)
