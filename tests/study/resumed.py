"""What a trial cut short must end with once resumed: the value of the same trial run whole."""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.trial import TrialState

import automl


def uninterrupted_value(folder: Path, params: dict, number: int, **settings) -> float:
    """The value of trial `number` (its seed: the study's + its number) with `params`, run
    without a break in a new study of the same `settings` (automl.search's keywords) on the
    built-in digits: failed placeholders keep the numbers before it."""
    folder.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{folder / 'uninterrupted.db'}"
    study = optuna.create_study(study_name="uninterrupted", storage=url, direction="maximize")
    for _ in range(number):
        study.add_trial(optuna.create_trial(state=TrialState.FAIL))
    study.enqueue_trial(params)
    done = automl.search(study="uninterrupted", storage=url, studies_dir=folder, trials=1,
                         **settings)  # fmt: skip
    (trial,) = done.get_trials(states=(TrialState.COMPLETE,))
    assert trial.number == number
    return trial.value
