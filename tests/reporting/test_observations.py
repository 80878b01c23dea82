"""Observations on constructed studies where the answer is known."""

from __future__ import annotations

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial

from automl.reporting.observations import MIN_TRIALS, observe
from automl.reporting.summary import completed, summarize

DISTS = {
    "activation": CategoricalDistribution(["relu", "mish"]),  # matters: +0.2 for mish
    "augment": CategoricalDistribution(["none", "basic"]),  # does not matter
    "optimizer": CategoricalDistribution(["adamw", "sgd"]),  # matters, but sgd tried twice
    "lr": FloatDistribution(1e-4, 1e-1, log=True),  # higher lr is better
    "dropout": FloatDistribution(0.0, 0.5),  # does not matter
}


def constructed(n: int = 40, seed: int = 0) -> optuna.Study:
    rng = np.random.default_rng(seed)
    study = optuna.create_study(direction="maximize")
    for i in range(n):
        p = {
            "activation": ["relu", "mish"][i % 2],
            "augment": ["none", "basic"][(i // 2) % 2],
            "optimizer": "sgd" if i in (3, 8) else "adamw",
            "lr": float(10 ** rng.uniform(-4, -1)),
            "dropout": float(rng.uniform(0, 0.5)),
        }
        value = (
            0.4
            + 0.2 * (p["activation"] == "mish")
            + 0.3 * (p["optimizer"] == "sgd")
            + 0.03 * (np.log10(p["lr"]) + 4)
            + rng.normal(0, 0.01)
        )
        study.add_trial(
            create_trial(
                value=float(value), params=p, distributions=DISTS, state=TrialState.COMPLETE
            )
        )
    return study


def by_param(found):
    return {o.param: o for o in found}


def test_a_parameter_that_matters_is_found_with_its_evidence():
    study = constructed()
    found = by_param(observe(summarize(completed(study), {}), len(study.trials)))
    act = found["activation"]
    assert act.supported and act.finding == "activation: mish does better than relu."
    assert "mish: median val accuracy 0.6" in act.evidence and "over 20 trials" in act.evidence
    assert "for relu over 20" in act.evidence
    lr = found["lr"]
    assert lr.supported and lr.finding == "lr: higher values go with higher val accuracy."


def test_a_parameter_that_does_not_matter_gets_no_finding():
    study = constructed()
    found = by_param(observe(summarize(completed(study), {}), len(study.trials)))
    assert not found["augment"].supported
    assert found["augment"].finding == "augment: no clear difference between its levels."
    assert not found["dropout"].supported
    assert found["dropout"].finding == "dropout: no clear trend with val accuracy."


def test_a_level_with_too_few_trials_is_not_compared():
    study = constructed()
    opt = by_param(observe(summarize(completed(study), {}), len(study.trials)))["optimizer"]
    assert not opt.supported  # sgd is much better, but only 2 trials say so
    assert opt.finding == "optimizer: too few trials per level to compare."
    assert "sgd: 2" in opt.evidence


def test_a_small_study_says_it_is_too_small():
    study = constructed(n=MIN_TRIALS - 1)
    found = observe(summarize(completed(study), {}), len(study.trials))
    assert len(found) == 1 and not found[0].supported
    assert "too small to say anything" in found[0].finding
    assert f"{MIN_TRIALS - 1} completed trial(s)" in found[0].evidence


def test_summary_table_values():
    study = constructed()
    rows = {s.name: s for s in summarize(completed(study), {"activation": 0.7, "lr": 0.3})}
    act = rows["activation"]
    assert act.categorical and act.importance == 0.7 and act.best_level == "mish"
    assert act.counts() == "relu: 20, mish: 20"
    assert 0.15 < act.correlation < 0.25  # spread of level medians
    assert rows["lr"].correlation > 0.5 and rows["augment"].importance is None


def test_a_parameter_that_never_varied_says_so():
    study = optuna.create_study(direction="maximize")
    dists = {**DISTS, "resolution": CategoricalDistribution([32, 64])}
    for t in constructed().trials:
        study.add_trial(
            create_trial(value=t.value, params={**t.params, "resolution": 32}, distributions=dists)
        )
    res = by_param(observe(summarize(completed(study), {}), len(study.trials)))["resolution"]
    assert not res.supported
    assert res.finding == "resolution: always 32 in the completed trials."
    assert res.evidence == "40 trials; nothing to compare."
