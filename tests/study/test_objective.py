import types
from unittest import mock

import optuna
import pytest
from optuna.trial import TrialState

from automl.study.objective import recording_interrupts


@pytest.mark.parametrize("queued", [False, True])
def test_an_interrupt_while_optuna_makes_the_trial_fails_it(tmp_path, queued):
    # Ctrl-C after the storage made the trial RUNNING, before the sampler saw it
    study = optuna.create_study(storage=f"sqlite:///{tmp_path}/i.db")
    if queued:
        study.enqueue_trial({"x": 1.0})
    objective = types.SimpleNamespace(current=None)
    made = mock.patch.object(study._storage, "get_trial", side_effect=KeyboardInterrupt)
    with pytest.raises(KeyboardInterrupt), recording_interrupts(study, objective), made:
        study.ask()
    [trial] = study.get_trials()
    assert trial.state == TrialState.FAIL and trial.user_attrs["fail_reason"] == "interrupted"
    assert "create_new_trial" not in vars(study._storage)  # the storage is itself again


def test_a_trial_queued_again_is_not_taken_for_this_process_s(tmp_path):
    # the heartbeat queues a dead worker's trial again: another process will run it
    study = optuna.create_study(storage=f"sqlite:///{tmp_path}/q.db")
    objective = types.SimpleNamespace(current=None)
    with recording_interrupts(study, objective):
        study.enqueue_trial({"x": 1.0})
    assert objective.current is None
