"""automl/optuna_compat.py leans on Optuna's private parts and message text: each test here
fails when an Optuna release changes one of them (then update the module, not the test)."""

from __future__ import annotations

import inspect
import re
import threading
import warnings

import optuna
import pytest
from optuna.storages import RDBStorage
from optuna.storages._heartbeat import HeartbeatThread
from optuna.trial import TrialState

from automl import optuna_compat


def _study(tmp_path, **storage_options) -> optuna.Study:
    url = f"sqlite:///{tmp_path / 's.db'}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.create_study(storage=RDBStorage(url, **storage_options))


def test_optuna_below_the_next_major_version():
    major = int(optuna.__version__.split(".")[0])
    assert 4 <= major < 6, f"pyproject bounds optuna to >=4.9,<6; this is {optuna.__version__}"


def test_the_study_storage_and_trial_id(tmp_path):
    study = _study(tmp_path)
    store = optuna_compat.storage(study)
    assert isinstance(store, optuna.storages.BaseStorage)
    trial = study.ask()
    trial_id = optuna_compat.trial_id(trial)
    assert store.get_trial(trial_id).number == trial.number == 0
    again = optuna.load_study(study_name=study.study_name, storage=store)  # what search does
    assert [t.number for t in again.trials] == [0]


def test_the_wrapped_storage_methods_keep_their_signatures(tmp_path):
    store = optuna_compat.storage(_study(tmp_path))
    create = inspect.signature(store.create_new_trial).parameters
    assert list(create) == ["study_id", "template_trial"]
    state = inspect.signature(store.set_trial_state_values).parameters
    assert list(state)[:2] == ["trial_id", "state"]


def test_on_trial_running_sees_new_and_queued_trials_and_restores(tmp_path):
    study = _study(tmp_path)
    store = optuna_compat.storage(study)
    seen: list[int] = []
    study.enqueue_trial({"x": 1.0})
    with optuna_compat.on_trial_running(study, seen.append):
        queued = study.ask()  # taken from the queue: WAITING -> RUNNING
        new = study.ask()  # created RUNNING
    assert seen == [optuna_compat.trial_id(queued), optuna_compat.trial_id(new)]
    assert "create_new_trial" not in vars(store) and "set_trial_state_values" not in vars(store)
    study.ask()
    assert len(seen) == 2  # the storage is its own again


def test_heartbeat_threads_are_found_and_stopped(tmp_path):
    target = HeartbeatThread._record_heartbeat
    assert target.__qualname__ == "HeartbeatThread._record_heartbeat"
    assert list(inspect.signature(target).parameters) == ["trial_id", "heartbeat", "stop_event"]
    study = _study(tmp_path, heartbeat_interval=60)
    with warnings.catch_warnings():  # "Heartbeat ... supposed to be used with Study.optimize"
        warnings.simplefilter("ignore", UserWarning)
        trial = study.ask()
    beat = HeartbeatThread(optuna_compat.trial_id(trial), optuna_compat.storage(study))
    beat.start()  # what Optuna does around each trial
    thread = next(t for t in threading.enumerate() if t is beat._thread)
    assert thread._target.__qualname__ == target.__qualname__
    optuna_compat.stop_heartbeat_threads()
    thread.join(timeout=10)
    assert not thread.is_alive()


def test_finished_elsewhere_matches_what_optuna_raises(tmp_path):
    study = _study(tmp_path)
    trial = study.ask()
    study.tell(trial, 1.0)
    with pytest.raises(ValueError) as told:
        study.tell(trial, 2.0)
    assert optuna_compat.finished_elsewhere(told.value)
    store = optuna_compat.storage(study)
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError) as updated:
        store.set_trial_state_values(optuna_compat.trial_id(trial), TrialState.COMPLETE, [3.0])
    assert optuna_compat.finished_elsewhere(updated.value)
    assert not optuna_compat.finished_elsewhere(ValueError("some other error"))


def _warned(call) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    return [str(w.message) for w in caught]


def test_the_silenced_warnings_match_optuna_text():
    dist = optuna.distributions.IntDistribution(1, 3)

    def partial_fixed():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            sampler = optuna.samplers.PartialFixedSampler({"x": 9}, optuna.samplers.RandomSampler())
        optuna.create_study(sampler=sampler).ask().suggest_int("x", dist.low, dist.high)

    def grid():
        sampler = optuna.samplers.GridSampler({"x": [9]})
        optuna.create_study(sampler=sampler).ask().suggest_int("x", dist.low, dist.high)

    def fixed_trial():
        optuna.trial.FixedTrial({"x": 9}).suggest_int("x", dist.low, dist.high)

    for pattern, call in (
        (optuna_compat.FIXED_OUT_OF_RANGE, partial_fixed),
        (optuna_compat.GRID_OUT_OF_RANGE, grid),
        (optuna_compat.FIXED_TRIAL_OUT_OF_RANGE, fixed_trial),
    ):
        messages = _warned(call)
        assert any(re.match(pattern, m) for m in messages), (pattern, messages)


def test_the_failed_trial_log_lines(tmp_path, caplog):
    study = _study(tmp_path)

    def objective(trial):
        raise KeyboardInterrupt

    with caplog.at_level("WARNING", logger="optuna"), pytest.raises(KeyboardInterrupt):
        study.optimize(objective, n_trials=1)
    lines = [r.getMessage() for r in caplog.records if r.name == "optuna.study._optimize"]
    assert any(optuna_compat.is_failed_line(line) for line in lines), lines
    assert {optuna_compat.trial_of_log_line(line) for line in lines} == {"Trial 0"}
