"""SIGKILL `automl.search` mid-trial, run the same command again: the study carries on.

No completed trial is lost or changed, the killed trial turns FAIL (heartbeat) instead of
staying RUNNING, and it is retried once (RetryHeartbeatStaleTrialCallback), from the
checkpoint of its last epoch, ending with the value of the same trial run without a break."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import optuna
import pytest
from optuna.trial import TrialState

from .resumed import uninterrupted_value

TRIALS = 3
EPOCHS = 4
HEARTBEAT = 1  # seconds; grace period is 2 x HEARTBEAT
ACTIVATIONS = ["relu", "gelu", "silu"]  # one queued config per trial
KILL_TIMEOUT = 120.0  # seconds to wait for the moment to kill
RESUME_TIMEOUT = 300.0


def storage(url: str) -> optuna.storages.RDBStorage:
    return optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}})


def trials_of(url: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name="k", storage=storage(url)).get_trials()


@pytest.mark.slow
def test_sigkill_mid_trial_then_rerun_resumes(tmp_path, tiny_params):
    configs = [
        {**tiny_params, "activation": a, "lr": 3e-3 * (i + 1) / 2}
        for i, a in enumerate(ACTIVATIONS)
    ]
    url = f"sqlite:///{tmp_path / 'k.db'}"
    queued = optuna.create_study(study_name="k", storage=url, direction="maximize")
    for params in configs:
        queued.enqueue_trial(params)
    command = [
        sys.executable,
        "-c",
        "import logging, automl; logging.basicConfig(level=logging.INFO); "
        "automl.search(study='k', studies_dir='.', "
        f"trials={TRIALS}, epochs={EPOCHS}, resolution=32, pruner='none', recheck=0, "
        f"heartbeat_interval={HEARTBEAT}, precision='fp32')",
    ]
    # One torch thread per process: on a small shared CPU, oversubscription slows epochs a lot.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    log = tmp_path / "search.log"

    with open(log, "wb") as out:
        first = subprocess.Popen(
            command, cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        # Kill once a trial has completed and another has its checkpoint after 1..EPOCHS-2
        # epochs, so it cannot finish between the last look and the kill.
        polling = optuna.load_study(study_name="k", storage=storage(url))
        deadline = time.monotonic() + KILL_TIMEOUT
        killed = None
        while killed is None:
            if first.poll() is not None:
                pytest.fail(
                    f"search ended (rc={first.returncode}) before it could be killed "
                    f"mid-trial:\n{log.read_text()[-3000:]}"
                )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"no moment to kill within {KILL_TIMEOUT} s:\n{log.read_text()[-3000:]}"
                )
            trials = polling.get_trials(deepcopy=False)
            if any(t.state == TrialState.COMPLETE for t in trials):
                killed = next(
                    (
                        t.number
                        for t in trials
                        if t.state == TrialState.RUNNING
                        and 1 <= t.user_attrs.get("checkpointed", 0) <= EPOCHS - 2
                    ),
                    None,
                )
            if killed is None:
                time.sleep(0.05)
        os.kill(first.pid, signal.SIGKILL)
        assert first.wait(timeout=30) == -signal.SIGKILL
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()

    before = {t.number: t for t in trials_of(url)}
    assert before[killed].state == TrialState.RUNNING  # what the kill leaves behind
    completed = {n: t for n, t in before.items() if t.state == TrialState.COMPLETE}
    assert completed and all(n < killed for n in completed)

    time.sleep(2 * HEARTBEAT + 1)  # past the grace period: the killed trial's heartbeat is stale
    with open(log, "ab") as out:
        again = subprocess.run(
            command,
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=RESUME_TIMEOUT,
        )
    assert again.returncode == 0, log.read_text()[-3000:]

    after = {t.number: t for t in trials_of(url)}
    for number, trial in completed.items():  # no completed trial lost or rewritten
        assert after[number].state == TrialState.COMPLETE
        assert after[number].value == trial.value
        assert after[number].params == trial.params
        assert after[number].user_attrs["history"] == trial.user_attrs["history"]
    assert after[killed].state == TrialState.FAIL
    states = [t.state for t in after.values()]
    assert TrialState.RUNNING not in states and TrialState.WAITING not in states
    finished = [t for t in after.values() if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == TRIALS  # one process: exactly the trials asked for
    assert len(after) == TRIALS + 1  # ... plus the killed one

    retries = [t for t in after.values() if t.system_attrs.get("failed_trial") == killed]
    assert len(retries) == 1, "the killed trial should be retried exactly once"
    retry = retries[0]
    assert retry.number > killed and retry.state == TrialState.COMPLETE
    assert retry.params == before[killed].params
    assert retry.system_attrs["retry_history"] == [killed]
    # resumed from the killed run's last checkpoint: its epochs carried, the rest trained
    saved = before[killed].user_attrs["checkpointed"]
    assert 1 <= saved <= EPOCHS - 1
    assert retry.user_attrs["resumed_from"] == killed
    assert retry.user_attrs["resumed_after"] == saved
    assert retry.user_attrs["history"][:saved] == before[killed].user_attrs["history"][:saved]
    assert retry.user_attrs["epochs_run"] == EPOCHS
    assert [row["epoch"] for row in retry.user_attrs["history"]] == list(range(1, EPOCHS + 1))
    assert sorted(retry.intermediate_values) == list(range(1, EPOCHS + 1))
    assert f"trial {retry.number} resumes trial {killed} after epoch {saved} of {EPOCHS}" in (
        log.read_text()
    )
    whole = uninterrupted_value(
        tmp_path, retry.params, killed, epochs=EPOCHS, resolution=32, pruner="none",
        recheck=0, precision="fp32", threads=1,
    )  # fmt: skip
    assert retry.value == whole
    assert not list((tmp_path / "k" / "checkpoints").glob("*.pt"))  # none left
    for trial in finished:
        assert trial.user_attrs["epochs_run"] == EPOCHS
        assert trial.value == trial.user_attrs["history"][-1]["val_acc"]
