"""The account of a search covers its time: each worker's start-up, decoding, model builds,
timing probes, feature passes, training and evaluation are named; the rest shows as "other"
when it is over 2%."""

from __future__ import annotations

import re

import automl
from automl.study.listing import Spent, spent

TINY = {"resolution": 32, "epochs": 1, "pruner": "none", "recheck": 0}


def test_each_trial_records_its_parts_and_the_first_its_start_up(tmp_path):
    study = automl.search(study="t", trials=2, studies_dir=tmp_path, portfolio=False, **TINY)
    first, second = (t.user_attrs["parts_seconds"] for t in study.trials)
    assert first["startup"] > 0 and "startup" not in second  # one worker: one start-up
    for parts, trial in ((first, study.trials[0]), (second, study.trials[1])):
        assert parts["build"] > 0 and parts["probe"] > 0
        assert "features" not in parts  # no frozen backbone here
        inside = parts["build"] + parts["probe"] + trial.user_attrs["history"][0]["seconds"]
        assert inside <= trial.user_attrs["wall_time"]
    account = spent(study.trials)
    assert account.startup == first["startup"]
    assert account.build == first["build"] + second["build"]
    named = account.startup + account.decode + account.build + account.probe
    assert named + account.train + account.evaluate <= account.seconds
    line = account.line()
    assert re.match(r"2 completed, 0 pruned, 0 failed; 2 epochs in \d+m\d\ds \(start-up ", line)
    for name in ("start-up", "decoding", "model builds", "timing probes", "training"):
        assert re.search(rf"[( ]{name} \d+%", line), name
    assert "feature passes" not in line  # a part that took nothing is left out


def test_the_unnamed_rest_is_shown_only_over_2_percent():
    common = {"complete": 1, "pruned": 0, "failed": 0, "epochs": 3, "decode": 1.0}
    named = Spent(seconds=100.0, train=60.0, evaluate=5.0, startup=10.0, build=8.0,
                  probe=10.0, features=4.5, **common)  # fmt: skip
    assert named.line() == (
        "1 completed, 0 pruned, 0 failed; 3 epochs in 1m40s (start-up 10%, decoding 1%, "
        "model builds 8%, timing probes 10%, feature passes 4%, training 60%, evaluation 5%)"
    )
    unnamed = Spent(seconds=100.0, train=60.0, evaluate=5.0, **common)
    assert unnamed.line().endswith("(decoding 1%, training 60%, evaluation 5%, other 34%)")
    before = Spent(seconds=0.0, train=0.0, evaluate=0.0, **common)  # a study with no time
    assert before.line().endswith("(decoding -, training -, evaluation -)")
