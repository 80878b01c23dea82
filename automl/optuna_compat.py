"""Every use of Optuna's private parts and of its message text, in one place.

Optuna gives no public way to do these; each says why it is needed. An Optuna release that
changes one fails tests/study/test_optuna_compat.py loudly, not a search quietly. pyproject
bounds Optuna below its next major version for the same reason.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.trial import TrialState

# Texts of Optuna's warnings that automl silences, as `warnings.filterwarnings` patterns:
# a pin outside the space's range or choices is used as given, and automl warns of it once.
FIXED_OUT_OF_RANGE = "Fixed parameter .* is out of range"  # PartialFixedSampler, Trial
GRID_OUT_OF_RANGE = "The value .* is out of range of the param"  # GridSampler
FIXED_TRIAL_OUT_OF_RANGE = ".* out of the range of the distribution"  # FixedTrial

# Optuna's log line for a trial whose objective raised: "Trial N failed with value None."
_FAILED_LINE = "failed with value"


def storage(study: optuna.Study) -> BaseStorage:
    """The storage a study reads and writes (`Study._storage`): to open the same study again
    on it, and to act on a trial by id while Optuna is in the middle of it."""
    return study._storage


def trial_id(trial: optuna.Trial) -> int:
    """The storage's id of a running trial (`Trial._trial_id`): an interrupt handler must
    mark it failed after Optuna has let go of the Trial object."""
    return trial._trial_id


def trial_system_attrs(trial: optuna.Trial) -> dict[str, Any]:
    """A running trial's system attributes, read from its storage: `optuna.Trial` no longer
    shows them, and a retry's (`failed_trial`, `retry_history`) say which trial it carries on."""
    return storage(trial.study).get_trial_system_attrs(trial_id(trial))


@contextlib.contextmanager
def on_trial_running(study: optuna.Study, note: Callable[[int], None]) -> Iterator[None]:
    """Call `note(trial_id)` the moment this study's storage makes a trial RUNNING for this
    process (created by it, or taken from the queue), before Optuna or the sampler do anything
    with it: Optuna has no hook there, so the two storage methods are wrapped, on this storage
    instance only, and restored on exit. A trial queued again by the heartbeat
    (`template_trial` given) is another process's, and is not noted."""
    store = storage(study)
    create, set_state = store.create_new_trial, store.set_trial_state_values

    def creating(study_id: int, template_trial: Any = None) -> int:
        new_id = create(study_id, template_trial)
        if template_trial is None:
            note(new_id)
        return new_id

    def setting(trial_id: int, state: TrialState, *args: Any, **kwargs: Any) -> bool:
        changed = set_state(trial_id, state, *args, **kwargs)
        if changed and state == TrialState.RUNNING:
            note(trial_id)
        return changed

    store.create_new_trial, store.set_trial_state_values = creating, setting
    try:
        yield
    finally:
        del store.create_new_trial, store.set_trial_state_values


def stop_heartbeat_threads() -> None:
    """Set the stop event of every heartbeat thread left beating. An interrupt between Optuna
    starting a trial's heartbeat thread and entering its `with` leaves that (non-daemon)
    thread beating forever, and the process could never exit. Optuna keeps no list of them:
    they are found by their target, `HeartbeatThread._record_heartbeat(trial_id, heartbeat,
    stop_event)` (optuna/storages/_heartbeat.py)."""
    for thread in threading.enumerate():
        target = getattr(thread, "_target", None)
        if getattr(target, "__qualname__", "") == "HeartbeatThread._record_heartbeat":
            thread._args[2].set()


def finished_elsewhere(exc: Exception) -> bool:
    """Optuna's two ways of saying a trial this worker ran was finished by another one (two
    SQLite workers can both start the same queued trial): the storage's
    UpdateFinishedTrialError, and `study.tell`'s ValueError. Only their text tells them apart
    from other errors of the same types."""
    text = str(exc)
    return "has already finished and can not be updated" in text or text.startswith(
        "Cannot tell a "
    )


def trial_of_log_line(message: str) -> str:
    """ "Trial N" of an Optuna log line about a trial (its first two words)."""
    return " ".join(message.split()[:2])


def is_failed_line(message: str) -> bool:
    """Optuna's second line about a failed trial ("Trial N failed with value None.")."""
    return _FAILED_LINE in message
