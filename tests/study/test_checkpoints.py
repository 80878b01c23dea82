"""A trial cut short resumes from its last checkpoint (automl/study/checkpoints.py).

The interrupt is a KeyboardInterrupt raised in place of an epoch (what Ctrl-C or a stop
signal raises there, interrupt.py), and once, a real SIGTERM to `automl search`."""

from __future__ import annotations

import logging
import shutil
import signal
import subprocess
import sys
import time

import optuna
import pytest
from optuna.trial import TrialState
from typer.testing import CliRunner

import automl
from automl import StudyError
from automl.cli import app
from automl.paths import Paths
from automl.study.checkpoints import Checkpoints, of_trial
from automl.study.record import StudyRecord
from automl.train import fit as fit_module

from .resumed import uninterrupted_value

EPOCHS = 3
FAST = {  # a small, quick scratch CNN: the trials differ in activation, dropout and lr only
    "base_filters": 16, "filter_org": "same", "kernel_size": 3, "batch_norm": False,
    "dense_units": 64, "optimizer": "adamw", "weight_decay": 1e-4, "batch_size": 128,
    "augment": "basic",
}  # fmt: skip
TINY = {
    "resolution": 32, "pruner": "none", "recheck": 0, "precision": "fp32", "epochs": EPOCHS,
    "portfolio": False, "fix": FAST,
}  # fmt: skip


def cut_at(monkeypatch, call: int) -> None:
    """Interrupt the `call`-th epoch of the process (counted from 1) as Ctrl-C would."""
    calls = []
    real = fit_module.train_one_epoch

    def epoch(*args, **kwargs):
        calls.append(1)
        if len(calls) == call:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(fit_module, "train_one_epoch", epoch)


def interrupted_search(monkeypatch, folder, **settings) -> None:
    """Two trials of EPOCHS, the second cut in its second epoch: its checkpoint holds 1."""
    cut_at(monkeypatch, EPOCHS + 2)
    with pytest.raises(KeyboardInterrupt):
        automl.search(study="r", trials=2, studies_dir=folder, **{**TINY, **settings})
    monkeypatch.undo()


def trials(folder, study="r") -> dict[int, optuna.trial.FrozenTrial]:
    url = f"sqlite:///{folder / f'{study}.db'}"
    return {t.number: t for t in optuna.load_study(study_name=study, storage=url).trials}


def checkpoint_files(folder):
    return sorted(p.name for p in folder.rglob("*.pt") if "checkpoints" in p.parts)


def test_an_interrupted_trial_resumes_on_the_rerun(tmp_path, monkeypatch, caplog):
    interrupted_search(monkeypatch, tmp_path)
    cut = trials(tmp_path)[1]
    assert cut.state == TrialState.FAIL and cut.user_attrs["fail_reason"] == "interrupted"
    assert cut.user_attrs["checkpointed"] == 1
    assert checkpoint_files(tmp_path) == ["trial-1.pt"]  # trial 0's went when it completed

    caplog.set_level(logging.INFO)
    automl.search(study="r", trials=2, studies_dir=tmp_path, **TINY)
    after = trials(tmp_path)
    assert [t.state for t in after.values()] == [
        TrialState.COMPLETE, TrialState.FAIL, TrialState.COMPLETE,
    ]  # fmt: skip
    retry = after[2]
    assert retry.params == cut.params and retry.system_attrs["failed_trial"] == 1
    assert retry.user_attrs["resumed_from"] == 1 and retry.user_attrs["resumed_after"] == 1
    assert [row["epoch"] for row in retry.user_attrs["history"]] == [1, 2, 3]
    assert retry.user_attrs["history"][0] == cut.user_attrs["history"][0]  # carried over
    assert sorted(retry.intermediate_values) == [1, 2, 3]  # the pruner saw the whole curve
    assert "queued again to resume from their checkpoints: trial #1" in caplog.text
    assert f"trial 2 resumes trial 1 after epoch 1 of {EPOCHS}: " in caplog.text
    assert retry.value == uninterrupted_value(tmp_path / "u", retry.params, 1, **TINY)
    assert checkpoint_files(tmp_path) == []
    (info,) = automl.list_studies(studies_dir=tmp_path)
    assert info.spent.epochs == EPOCHS + 1 + (EPOCHS - 1)  # the retry's own epochs only


def test_no_checkpoint_is_left_after_a_finished_search(tmp_path):
    study = automl.search(study="r", trials=2, studies_dir=tmp_path, **TINY)
    assert [t.user_attrs["checkpointed"] for t in study.trials] == [EPOCHS - 1] * 2  # written
    assert checkpoint_files(tmp_path) == []  # ... and removed


@pytest.mark.parametrize("kind", ["corrupt", "foreign"])
def test_a_bad_checkpoint_is_one_warning_and_the_retry_starts_at_epoch_1(
    tmp_path, monkeypatch, caplog, kind
):
    interrupted_search(monkeypatch, tmp_path)
    path = tmp_path / "r" / "checkpoints" / "trial-1.pt"
    if kind == "corrupt":
        path.write_bytes(path.read_bytes()[:100])  # a half-written file
    else:  # another configuration's state under this trial's name
        other = {**trials(tmp_path)[1].params, "lr": 0.5}
        Checkpoints.of(None, Paths(tmp_path), "r", 1).save(
            of_trial(1), {"params": other, "seed": 43, "epochs": EPOCHS, "runs": 1}
        )
    caplog.set_level(logging.INFO)
    caplog.clear()  # Optuna's lines about the interrupt
    automl.search(study="r", trials=2, studies_dir=tmp_path, **TINY)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    why = "does not load" if kind == "corrupt" else "is of another run (its params, seed differ)"
    assert len(warnings) == 1 and f"trial 2: checkpoint trial-1.pt {why}" in warnings[0], warnings
    retry = trials(tmp_path)[2]
    assert retry.state == TrialState.COMPLETE and "resumed_after" not in retry.user_attrs
    assert [row["epoch"] for row in retry.user_attrs["history"]] == [1, 2, 3]
    if kind == "corrupt":  # trained from epoch 1 with its chain's seed, as if never cut
        assert retry.value == uninterrupted_value(tmp_path / "u", retry.params, 1, **TINY)
    assert checkpoint_files(tmp_path) == []


def test_without_checkpoints_the_retry_trains_from_epoch_1(tmp_path, monkeypatch, caplog):
    interrupted_search(monkeypatch, tmp_path, checkpoint_every=0)
    assert "checkpointed" not in trials(tmp_path)[1].user_attrs
    assert checkpoint_files(tmp_path) == []
    caplog.set_level(logging.INFO)
    caplog.clear()
    automl.search(study="r", trials=2, studies_dir=tmp_path, **TINY)  # the study's 0 kept
    retry = trials(tmp_path)[2]
    assert retry.system_attrs["failed_trial"] == 1 and "resumed_after" not in retry.user_attrs
    assert "checkpointed" not in retry.user_attrs
    assert [row["epoch"] for row in retry.user_attrs["history"]] == [1, 2, 3]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_rerun_keeps_the_studys_checkpoint_interval(tmp_path):
    automl.search(study="r", trials=1, studies_dir=tmp_path, checkpoint_every=2, **TINY)
    again = automl.search(study="r", trials=2, studies_dir=tmp_path, **TINY)
    assert [t.user_attrs["checkpointed"] for t in again.trials] == [2, 2]
    assert StudyRecord.from_study(again).worker_options["checkpoint_every"] == 2


def test_an_interrupted_finalize_resumes_its_retrain(tmp_path, monkeypatch, caplog):
    automl.search(study="f", trials=1, studies_dir=tmp_path / "a", **TINY)
    shutil.copytree(tmp_path / "a", tmp_path / "b")  # the same study, finalized without a cut
    cut_at(monkeypatch, 3)
    with pytest.raises(KeyboardInterrupt) as cut:
        automl.finalize("f", studies_dir=tmp_path / "a")
    assert cut.value.detail == "the retrain stopped before the held-out split was looked at"
    monkeypatch.undo()
    assert checkpoint_files(tmp_path / "a") == ["final.pt"]

    caplog.set_level(logging.INFO)
    resumed = automl.finalize("f", studies_dir=tmp_path / "a")  # no --force: not looked at
    assert f"resuming the retrain of trial 0 after epoch 2 of {EPOCHS}" in caplog.text
    whole = automl.finalize("f", studies_dir=tmp_path / "b")
    assert resumed.metrics == whole.metrics and not resumed.forced
    assert checkpoint_files(tmp_path) == []


def test_checkpoints_in_a_store_given_and_delete_removes_them(tmp_path, monkeypatch):
    store = tmp_path / "store"
    interrupted_search(monkeypatch, tmp_path, artifacts=store)
    assert sorted(p.name for p in (store / "r").iterdir()) == ["trial-1.pt"]
    assert checkpoint_files(tmp_path / "r") == []
    with pytest.raises(StudyError, match=r"made with artifacts=.*store, not .*other"):
        automl.search(study="r", trials=2, studies_dir=tmp_path, artifacts=tmp_path / "other")
    delete = ["delete", "--study", "r", "--yes", "--studies-dir", str(tmp_path)]
    result = CliRunner().invoke(app, delete)
    assert result.exit_code == 0, result.output
    assert not (store / "r").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--checkpoint-every", "2", "--no-checkpoints"],
         "pass --checkpoint-every 2 or --no-checkpoints, not both"),
        (["--checkpoint-every", "-1"],
         "--checkpoint-every must be a whole number of epochs, 0 (none) or more, got -1"),
        (["--artifacts", "ftp://host/x"],
         "--artifacts ftp://host/x: unknown kind of store ftp://; use a path or s3://"),
    ],
)  # fmt: skip
def test_bad_checkpoint_options_are_one_line(tmp_path, args, message):
    result = CliRunner().invoke(
        app, ["search", "--study", "x", "--trials", "1", "--studies-dir", str(tmp_path), *args]
    )
    assert result.exit_code != 0 and message in result.output, result.output
    assert "Traceback" not in result.output and not (tmp_path / "x.db").exists()


def test_a_worker_refuses_both_checkpoint_options_in_one_line(tmp_path):
    both = ["--checkpoint-every", "2", "--no-checkpoints", "--studies-dir", str(tmp_path)]
    result = CliRunner().invoke(app, ["worker", "--study", "x", *both])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "pass --checkpoint-every 2 or --no-checkpoints, not both" in result.output


@pytest.mark.slow
def test_sigterm_then_the_same_command_resumes(tmp_path):
    """`automl search` stopped by SIGTERM mid-trial: the same command again resumes that
    configuration after its last checkpointed epoch, and ends as if never stopped."""
    epochs = 5
    command = [
        sys.executable, "-m", "automl", "search", "--study", "t", "--trials", "2", "--epochs",
        str(epochs), "--resolution", "32", "--pruner", "none", "--recheck", "0", "--precision",
        "fp32", "--threads", "1", "--no-portfolio", "--studies-dir", str(tmp_path),
        *[f"--fix={k}={v}" for k, v in FAST.items()],
    ]  # fmt: skip
    log = tmp_path / "search.log"
    with open(log, "wb") as out:
        first = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while True:
            assert first.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            if list(tmp_path.glob("t/checkpoints/*.pt")):  # the study is made: look in it
                running = [
                    t for t in trials(tmp_path, "t").values()
                    if t.state == TrialState.RUNNING and t.user_attrs.get("checkpointed") == 2
                ]  # fmt: skip
                if running:
                    break
            time.sleep(0.05)
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=60) == 128 + signal.SIGTERM, log.read_text()[-3000:]
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    cut = trials(tmp_path, "t")[running[0].number]
    assert cut.state == TrialState.FAIL and cut.user_attrs["fail_reason"] == "interrupted"
    saved = cut.user_attrs["checkpointed"]  # 2, or 3 if epoch 3 ended before the signal

    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    after = trials(tmp_path, "t")
    (retry,) = [t for t in after.values() if t.system_attrs.get("failed_trial") == cut.number]
    assert retry.state == TrialState.COMPLETE and retry.params == cut.params
    assert retry.user_attrs["resumed_after"] == saved
    trained = [row["epoch"] for row in retry.user_attrs["history"][saved:]]
    assert trained == list(range(saved + 1, epochs + 1))
    said = " ".join(again.stderr.split())  # rich wraps long lines
    resumes = f"trial {retry.number} resumes trial {cut.number} after epoch {saved} of {epochs}"
    assert resumes in said
    whole = uninterrupted_value(
        tmp_path / "u", retry.params, cut.number, **{**TINY, "epochs": epochs}, threads=1
    )
    assert retry.value == whole
    assert len([t for t in after.values() if t.state == TrialState.COMPLETE]) == 2
    assert checkpoint_files(tmp_path) == []
