"""`--recheck N`: once a search has its trials, its N best configurations are trained again
with other seeds (and other folds under --cv), as trials of the study: queued in its storage,
so every worker takes them and a rerun runs the ones left. finalize then retrains the
configuration with the best mean over its runs (noise.pick); docs/concepts.md, Re-checks.
"""

from __future__ import annotations

import optuna
from optuna.trial import FrozenTrial

from automl.study.noise import to_recheck
from automl.study.record import TrialRecord


def is_recheck(trial: FrozenTrial | optuna.Trial) -> bool:
    return TrialRecord.of(trial).recheck_of is not None


def queue_rechecks(study: optuna.Study, n: int) -> list[int]:
    """Queue a re-check of each of the `n` best search trials that has none yet; the numbers
    of the trials queued. Two workers ending the search at the same instant may both queue
    one: the extra run is a real run, and counts in the configuration's mean."""
    queued = []
    for trial in to_recheck(study.get_trials(deepcopy=False), n):
        study.enqueue_trial(trial.params, user_attrs=TrialRecord.attrs(recheck_of=trial.number))
        queued.append(trial.number)
    return queued


class NotARecheck(Exception):
    """A worker re-checking took a trial that is not a re-check: the study has its trials,
    so it is failed untrained (Optuna hands out a new trial when another worker took the
    last queued re-check first)."""
