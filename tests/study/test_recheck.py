"""--recheck N: the N best configurations run again once the search has its trials; the
configuration finalize retrains (the best mean over its runs), the default N, the refusals,
the account, and the noise shown where a score is (search summary, studies, report)."""

from __future__ import annotations

import json
import re

import optuna
import pytest
from typer.testing import CliRunner

from automl.cli import app
from automl.reporting.build import _observations
from automl.settings import Machine, SearchOptions, Workspace
from automl.study.check import prepare
from automl.study.create import create_or_resume
from automl.study.noise import (
    configs,
    default_rechecks,
    draw,
    indistinguishable,
    pick,
    to_recheck,
)
from automl.study.tables import StoredTrial

runner = CliRunner()


def trial(number, value, state="COMPLETE", **attrs) -> StoredTrial:
    return StoredTrial(number, state, None if value is None else [value], attrs)


def test_runs_of_a_configuration_are_taken_together_and_the_best_mean_is_picked():
    trials = [
        trial(0, 0.90),  # the luckiest single run...
        trial(1, 0.86),
        trial(2, 0.80),
        trial(3, 0.95, "PRUNED"),  # not a value: stopped early
        trial(4, 0.68, recheck_of=0),  # ...re-checked low
        trial(5, 0.84, recheck_of=1),
        trial(6, None, "RUNNING", recheck_of=2),
    ]
    found = configs(trials)
    assert [(c.trial, c.numbers) for c in found] == [(1, (1, 5)), (2, (2,)), (0, (0, 4))]
    assert found[0].value == pytest.approx(0.85) and found[0].sd == pytest.approx(0.01414, 1e-3)
    assert pick(trials).trial == 1  # the best mean among those re-checked
    assert pick(trials[:3]).trial == 0  # none re-checked: the best trial
    assert pick([trial(0, None, "FAIL")]) is None
    assert found[0].describe() == "0.8500 ± 0.0141 (mean ± sd of 2 runs)"
    cv = configs([trial(0, 0.8, value_sd=0.05, fold_values=[0.75, 0.8, 0.85])])[0]
    assert cv.sd == 0.05 and cv.describe() == "0.8000 ± 0.0500 (mean ± sd of 3 folds)"


def test_what_is_queued_next_and_what_is_run_again():
    trials = [trial(0, 0.9), trial(1, 0.8), trial(2, 0.7), trial(3, 0.6)]
    assert [t.number for t in to_recheck(trials, 2)] == [0, 1]
    queued = [*trials, trial(4, None, "WAITING", recheck_of=0)]
    assert [t.number for t in to_recheck(queued, 2)] == [1]
    interrupted = [*trials, trial(4, None, "FAIL", recheck_of=0)]  # a rerun runs it again
    assert [t.number for t in to_recheck(interrupted, 2)] == [0, 1]
    assert to_recheck(trials, 0) == []
    assert default_rechecks(499) == 3 and default_rechecks(500) == 0


def test_configurations_within_one_sd_of_the_best_are_a_draw():
    close = [trial(0, 0.80), trial(1, 0.79), trial(2, 0.70), trial(3, 0.83, recheck_of=0)]
    close += [trial(4, 0.77, recheck_of=1)]
    found = configs(close)  # 0: 0.815 ± 0.021; 1: 0.78 ± 0.014; 2: 0.70 once
    assert [c.trial for c in indistinguishable(found)] == []  # 0.035 apart: more than 1 sd
    close[4] = trial(4, 0.80, recheck_of=1)  # 1: 0.795 ± 0.007, within 0.021 of 0.815
    assert [c.trial for c in indistinguishable(configs(close))] == [0, 1]
    assert [c.trial for c in draw(configs(close))] == [0, 1]  # from the one finalize picks
    assert indistinguishable(configs(close[:3])) == []  # no spread shown: nothing said

    studied = optuna.create_study(direction="maximize")
    for t in close:
        attrs = t.user_attrs
        studied.add_trial(optuna.trial.create_trial(value=t.value, user_attrs=attrs))
    section = _observations([], studied.trials, 3)
    text = json.dumps(section.__dict__, default=str)
    assert "These 2 are indistinguishable on this data: trials #0 and #1" in text


def test_a_small_split_rechecks_3_by_default_and_a_rerun_may_change_it(tmp_path):
    """Digits' 80/20 split validates on 288 images: 3 re-checks unless told; the count is
    kept by the study, and a rerun that gives --recheck replaces it."""
    workspace = Workspace(tmp_path)
    options = SearchOptions(study="d", trials=1, epochs=1, resolution=16, pruner="none")
    ready = create_or_resume(prepare(options, workspace, Machine("cpu", "fp32")), workspace, 1)
    assert len(ready.record.val_indices) == 288 and ready.record.recheck == 3
    again = SearchOptions(study="d", trials=1, recheck=1)
    ready = create_or_resume(prepare(again, workspace, Machine("cpu", "fp32")), workspace, 1)
    assert ready.record.recheck == 1 and ready.study.user_attrs["recheck"] == 1
    kept = SearchOptions(study="d", trials=1)
    ready = create_or_resume(prepare(kept, workspace, Machine("cpu", "fp32")), workspace, 1)
    assert ready.record.recheck == 1


def test_a_rerun_rechecks_and_every_score_shows_its_runs(tmp_path):
    common = ["--studies-dir", str(tmp_path), "--study", "r", "--trials", "2", "--epochs", "1",
              "--resolution", "16", "--pruner", "none", "--no-portfolio"]  # fmt: skip
    r = runner.invoke(app, ["search", *common, "--recheck", "0"])
    assert r.exit_code == 0 and "re-check" not in r.output, r.output
    r = runner.invoke(app, ["search", *common, "--recheck", "1"])  # the trials are done
    assert r.exit_code == 0, r.output
    assert re.search(r"#2 +COMPLETE .* re-check of #\d", r.output), r.output
    assert "spent: 3 completed (1 of them re-checks), 0 pruned" in r.output
    shown = re.search(
        r"best: trial #(\d), val_acc \d\.\d{4} ± \d\.\d{4} \(mean ± sd of 2 runs", r.output
    )
    assert shown, r.output
    r = runner.invoke(app, ["search", *common])  # nothing left: no trial runs
    assert r.exit_code == 0 and "#3" not in r.output, r.output
    r = runner.invoke(app, ["studies", "--studies-dir", str(tmp_path)])
    assert re.search(r"│ r +│ \d\.\d{4} ±", r.output), r.output
    r = runner.invoke(app, ["finalize", "--study", "r", "--studies-dir", str(tmp_path)])
    assert r.exit_code == 0, r.output
    saved = json.loads((tmp_path / "r" / "final" / "metrics.json").read_text())
    assert saved["trial"] == int(shown.group(1)) and len(saved["val_runs"]) == 2
    assert saved["val_sd"] is not None


@pytest.mark.parametrize("n", ["-1", "x"])
def test_a_bad_recheck_is_one_line_before_anything_is_made(tmp_path, n):
    r = runner.invoke(app, ["search", "--recheck", n, "--studies-dir", str(tmp_path)])
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    if n == "-1":
        assert len(lines) == 1 and "--recheck must be a whole number" in lines[0]
        assert "got -1" in lines[0]
    assert not list(tmp_path.iterdir())
