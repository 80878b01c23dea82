"""Many workers on one study: started at once, killed, interrupted, joining from elsewhere;
on SQLite and on a real PostgreSQL server (started on loopback by the fixture)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from typer.testing import CliRunner

import automl
from automl.cli import app
from automl.display import TrialPrinter
from automl.errors import StorageError, StudyError
from automl.settings import Machine, SearchOptions, Workspace
from automl.study.check import prepare
from automl.study.create import create_or_resume
from automl.study.pool import cuda_placement
from automl.study.record import StudyRecord
from automl.study.samplers import create_sampler
from automl.study.storage import open_storage
from tests.track.readers import mlflow_runs

from .resumed import uninterrupted_value

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
TINY = {"resolution": 32, "epochs": 1, "pruner": "none", "recheck": 0}
WAIT = 240.0  # seconds any multi-process step may take before the test gives up


def automl_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "automl", *map(str, args)]


def load(url: str, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=open_storage(url))


def param_sets(study: optuna.Study) -> list[str]:
    """The params of every search trial but failed ones (a failed trial's retry repeats
    them, a re-check its search trial's)."""
    return [
        json.dumps(t.params, sort_keys=True)
        for t in study.trials
        if t.params and t.state != TrialState.FAIL and "recheck_of" not in t.user_attrs
    ]


def assert_clean(study: optuna.Study, finished: int, workers: int = 1) -> None:
    """The asked number of finished search trials (a race may add one per extra worker), none
    left RUNNING or WAITING, and no two search trials with the same params."""
    states = [t.state for t in study.trials]
    done = sum(t.state in FINISHED and "recheck_of" not in t.user_attrs for t in study.trials)
    assert finished <= done <= finished + workers - 1, states
    assert TrialState.RUNNING not in states and TrialState.WAITING not in states
    sets = param_sets(study)
    assert len(sets) == len(set(sets)), "two trials have identical params"


def create(
    tmp_path: Path, url: str, name: str, trials: int, epochs: int = 1, portfolio: bool = True,
    track: list[str] | None = None,
) -> None:  # fmt: skip
    """Create the study as `automl search` does, without running a trial."""
    options = SearchOptions(
        space="scratch_cnn", study=name, trials=trials, epochs=epochs, pruner="none", seed=0,
        resolution=32, recheck=0, portfolio=portfolio, track=track,
    )  # fmt: skip
    workspace = Workspace(tmp_path, url)
    plan = prepare(options, workspace, Machine("cpu", "fp32"))
    create_or_resume(plan, workspace, heartbeat_interval=1)


def stop_all(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_trial_seeded_sampler_never_repeats_across_workers(tmp_path):
    """Two workers with the same study seed on one storage: every trial's params differ,
    and one worker replays exactly the same sequence as before."""
    url = f"sqlite:///{tmp_path / 's.db'}"

    def run(study: optuna.Study, n: int) -> None:
        for _ in range(n):
            trial = study.ask()
            study.tell(trial, trial.suggest_float("x", 0, 1) + trial.suggest_int("k", 0, 9))

    a = optuna.create_study(study_name="s", storage=url, sampler=create_sampler("tpe", 7))
    b = optuna.load_study(study_name="s", storage=url, sampler=create_sampler("tpe", 7))
    for _ in range(6):  # two workers taking turns, as if started at the same instant
        run(a, 1)
        run(b, 1)
    sets = param_sets(a)
    assert len(sets) == 12 and len(set(sets)) == 12

    again = optuna.create_study(sampler=create_sampler("tpe", 7))
    run(again, 12)
    assert param_sets(again) == sets  # the same trial numbers sample the same params


@pytest.mark.slow
def test_search_with_two_workers(tmp_path):
    """Both workers run trials, then the re-checks the first to end the search queued (the
    other may queue its own at the same instant: one per configuration and worker at most)."""
    study = automl.search(
        study="w2", trials=6, studies_dir=tmp_path, workers=2, progress=TrialPrinter,
        **{**TINY, "recheck": 2},
    )  # fmt: skip
    assert_clean(study, 6, workers=2)
    searched = [t for t in study.trials if "recheck_of" not in t.user_attrs]
    best = sorted((t for t in searched if t.value is not None), key=lambda t: -t.value)[:2]
    checks = [t.user_attrs["recheck_of"] for t in study.trials if "recheck_of" in t.user_attrs]
    assert set(checks) == {t.number for t in best} and len(checks) <= 4, checks
    labels = {t.user_attrs["worker"] for t in study.trials}
    assert len(labels) == 2  # both workers ran trials
    assert {t.user_attrs["threads"] for t in study.trials} == {
        max(1, len(os.sched_getaffinity(0)) // 2)
    }
    logs = sorted((tmp_path / "w2" / "workers").glob("worker-*.log"))
    assert len(logs) == 2


@pytest.mark.slow
def test_four_searches_started_at_once(tmp_path, storage_url):
    """The same `automl search` started 4 times at the same instant on a fresh database:
    all start (one creates the schema and the study, the others wait for it), 0 errors."""
    command = automl_cmd(
        "search",
        "--study", "at-once", "--storage", storage_url, "--trials", 4, "--epochs", 1,
        "--resolution", 32, "--pruner", "none", "--recheck", 0,
        "--threads", 1, "--studies-dir", tmp_path,
    )  # fmt: skip
    procs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for _ in range(4)
    ]
    try:
        outputs = [p.communicate(timeout=WAIT)[0].decode() for p in procs]
    finally:
        stop_all(procs)
    for p, out in zip(procs, outputs, strict=True):
        assert p.returncode == 0, out[-2000:]
    assert_clean(load(storage_url, "at-once"), 4, workers=4)


@pytest.mark.slow
def test_sigkill_one_of_two_workers_then_the_retry_resumes(tmp_path, storage_url, tiny_params):
    """Kill one worker once its 6-epoch trial has its checkpoint after epoch 3: the other
    finishes the study, the killed trial ends FAIL (heartbeat), and its retry trains epochs
    4-6 only, ending with the value of the same trial run without a break."""
    epochs, trials = 6, 3
    tracked = storage_url.startswith("sqlite")  # its retry's run: checked once, here
    create(tmp_path, storage_url, "k", trials, epochs, portfolio=False,
           track=["mlflow"] if tracked else None)  # fmt: skip
    queued = load(storage_url, "k")
    for i, activation in enumerate(("relu", "gelu", "silu")):  # small and quick, in order
        queued.enqueue_trial({**tiny_params, "activation": activation, "lr": 1e-3 * (i + 1)})
    command = automl_cmd(
        "worker", "--study", "k", "--storage", storage_url, "--threads", 1, "--precision",
        "fp32", "--heartbeat-interval", 1, "--studies-dir", tmp_path,
    )  # fmt: skip
    logs = [tmp_path / f"w{i}.log" for i in range(2)]
    procs = []
    for log in logs:
        with open(log, "wb") as out:
            procs.append(subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT))
    by_pid = {p.pid: p for p in procs}
    try:
        deadline = time.monotonic() + WAIT
        victim = None
        while victim is None:
            assert time.monotonic() < deadline, "no trial to kill mid-way"
            for t in load(storage_url, "k").get_trials(states=(TrialState.RUNNING,)):
                pid = int(str(t.user_attrs.get("worker", ":0")).split(" ")[0].split(":")[1])
                if pid in by_pid and 3 <= t.user_attrs.get("checkpointed", 0) < epochs - 1:
                    victim = t.number, by_pid[pid]
                    break
            time.sleep(0.02)
        killed, proc = victim
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
        survivor = next(p for p in procs if p is not proc)
        assert survivor.wait(timeout=WAIT) == 0, [log.read_text()[-2000:] for log in logs]
    finally:
        stop_all(procs)
    study = load(storage_url, "k")
    assert_clean(study, trials)
    by_number = {t.number: t for t in study.trials}
    assert by_number[killed].state == TrialState.FAIL
    saved = by_number[killed].user_attrs["checkpointed"]  # 3 (4 if the look was late)
    retries = [t for t in study.trials if t.system_attrs.get("failed_trial") == killed]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE
    retry = retries[0]
    assert retry.params == by_number[killed].params
    assert retry.user_attrs["resumed_from"] == killed
    assert retry.user_attrs["resumed_after"] == saved
    trained = [row["epoch"] for row in retry.user_attrs["history"][saved:]]
    assert trained == list(range(saved + 1, epochs + 1))  # the epochs left, only
    assert sorted(retry.intermediate_values) == list(range(1, epochs + 1))  # the whole curve
    whole = uninterrupted_value(
        tmp_path, retry.params, killed, epochs=epochs, resolution=32, pruner="none",
        recheck=0, precision="fp32", threads=1,
    )  # fmt: skip
    print(f"{storage_url.split(':')[0]}: trial {killed} resumed after epoch {saved} "
          f"-> {retry.value!r}; uninterrupted {whole!r}")  # fmt: skip
    assert retry.value == whole
    assert not list((tmp_path / "k" / "checkpoints").glob("*.pt"))  # none left
    if not tracked:
        return
    # Tracked: the retry is a new run naming the one it retries, which it closed as failed;
    # it logs the epochs it trained, not those it carried over.
    runs = {r.tags["automl.number"]: r for r in mlflow_runs(tmp_path / "k") if r.params}
    assert sorted(map(int, runs)) == sorted(t.number for t in study.trials)
    before, after = runs[str(killed)], runs[str(retry.number)]
    assert after.tags["automl.retry_of"] == str(killed)
    assert after.tags["automl.retry_of_mlflow"] == by_number[killed].user_attrs["tracked"]["mlflow"]
    assert before.status == "FAILED" and "retries it" in before.tags["automl.reason"]
    assert sorted(after.scalars["val_acc"]) == trained


def test_worker_joins_with_only_study_and_storage(tmp_path):
    """A study created by `search` in one studies folder, worked on from another (another
    machine): the worker needs only --study and --storage."""
    url = f"sqlite:///{tmp_path / 'a' / 'j.db'}"
    automl.search(study="j", storage=url, trials=1, studies_dir=tmp_path / "a", **TINY)
    r = CliRunner().invoke(
        app,
        ["worker", "--study", "j", "--storage", url, "--trials", "3", "--threads", "1"]
        + ["--studies-dir", str(tmp_path / "b")],
    )
    assert r.exit_code == 0, r.output
    study = load(url, "j")
    assert_clean(study, 3)
    assert [t.user_attrs["threads"] for t in study.trials[1:]] == [1, 1]
    assert StudyRecord.from_study(study).trials == 1  # the search's own target is kept


def test_worker_remaps_moved_data(tmp_path):
    from PIL import Image

    root = tmp_path / "photos"
    for split in ("train", "test"):
        for c, colour in (("a", (200, 10, 10)), ("b", (10, 10, 200))):
            (root / split / c).mkdir(parents=True)
            for i in range(6):
                Image.new("RGB", (16, 16), tuple(v + 5 * i for v in colour)).save(
                    root / split / c / f"{i}.png"
                )
    url = f"sqlite:///{tmp_path / 'm.db'}"
    automl.search(study="m", storage=url, data=root, trials=1, studies_dir=tmp_path, **TINY)
    moved = root.rename(tmp_path / "moved")
    args = ["worker", "--study", "m", "--storage", url, "--trials", "2"]
    r = CliRunner().invoke(app, [*args, "--studies-dir", str(tmp_path)])
    assert r.exit_code == 2 and "does not exist" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(app, [*args, "--data", str(moved), "--studies-dir", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert_clean(load(url, "m"), 2)


def test_worker_errors_are_one_line(tmp_path):
    url = f"sqlite:///{tmp_path / 'e.db'}"
    optuna.create_study(study_name="plain", storage=url)
    cases = [
        (["--study", "nope", "--storage", url], "no study named 'nope'"),
        (["--study", "plain", "--storage", url], "was not made by `automl search`"),
        (["--study", "x", "--storage", f"sqlite:///{tmp_path / 'none.db'}"], "no study database"),
        (  # nothing listens there: said at once, not retried as a lost connection
            ["--study", "x", "--storage", "postgresql+psycopg://u:secret@127.0.0.1:1/x"],
            "cannot open storage 'postgresql+psycopg://u:***@127.0.0.1:1/x'",
        ),
    ]
    for args, message in cases:
        r = CliRunner().invoke(app, ["worker", *args, "--studies-dir", str(tmp_path)])
        lines = [line for line in r.output.splitlines() if line.strip()]
        assert r.exit_code == 2 and len(lines) == 1 and message in lines[0], r.output


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"workers": 0}, automl.ConfigError, "workers must be a whole number of at least 1"),
        ({"workers": 2, "storage": "sqlite://"}, StorageError, "is in memory"),
    ],
)
def test_bad_worker_options(tmp_path, kwargs, error, message):
    with pytest.raises(error, match=message):
        automl.search(study="bad", studies_dir=tmp_path, trials=1, **{**TINY, **kwargs})


def test_missing_driver_names_what_to_install(monkeypatch):
    with pytest.raises(StorageError, match=r"needs the Python module pg8000.*pip install pg8000"):
        open_storage("postgresql+pg8000://u:secret@127.0.0.1:1/db")
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if not installed
    with pytest.raises(StorageError, match=r"automl\[postgres\]") as caught:
        open_storage("postgresql://u:secret@127.0.0.1:1/db")
    assert "secret" not in str(caught.value)


@pytest.mark.slow
def test_ctrl_c_stops_every_worker(tmp_path):
    """SIGINT to `automl search --workers 2`: exit 130, no trial left RUNNING, no worker left."""
    url = f"sqlite:///{tmp_path / 'c.db'}"
    command = automl_cmd(
        "search", "--study", "c", "--storage", url, "--trials", 40, "--epochs", 8,
        "--resolution", 32, "--pruner", "none", "--recheck", 0,
        "--workers", 2, "--studies-dir", tmp_path,
    )  # fmt: skip
    parent = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=default_sigint
    )
    try:
        running = wait_for_running(
            parent, url, "c", lambda ts: len({t.user_attrs.get("worker") for t in ts} - {None}) == 2
        )
        workers = {int(t.user_attrs["worker"].split(":")[1].split(" ")[0]) for t in running}
        parent.send_signal(signal.SIGINT)
        out = parent.communicate(timeout=WAIT)[0].decode()
    finally:
        stop_all([parent])
    assert parent.returncode == 130, out[-2000:]
    assert "interrupted" in out and "Traceback" not in out
    states = [t.state for t in load(url, "c").trials]
    assert TrialState.RUNNING not in states and TrialState.FAIL in states
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists() or _zombie(pid), f"worker {pid} left running"


def wait_for_running(proc: subprocess.Popen, url: str, study: str, ready) -> list:
    """The study's RUNNING trials once `ready(them)` holds; fails if `proc` ends first."""
    deadline = time.monotonic() + WAIT
    while True:
        assert proc.poll() is None, proc.communicate()[0].decode()[-2000:]
        assert time.monotonic() < deadline, "the trials the test waits for never started"
        try:
            running = load(url, study).get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        except Exception:  # not created yet
            running = []
        if ready(running):
            return running
        time.sleep(0.2)


def default_sigint() -> None:
    """In the child before exec: Ctrl-C handled as a shell would (a test runner started in
    the background passes SIGINT on ignored, and Python would keep ignoring it)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_search_is_one_line(tmp_path, sig, code):
    """Ctrl-C or SIGTERM mid-trial: exit 130/143, one line saying what finished and how to
    resume, no traceback, and the running trial recorded as failed ("interrupted")."""
    url = f"sqlite:///{tmp_path / 'i.db'}"
    command = automl_cmd(
        "search", "--study", "i", "--storage", url, "--trials", 5, "--epochs", 60,
        "--resolution", 32, "--pruner", "none", "--recheck", 0,
        "--no-portfolio", "--studies-dir", tmp_path,
    )  # fmt: skip
    child = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=default_sigint
    )
    try:
        wait_for_running(child, url, "i", bool)
        child.send_signal(sig)
        out = child.communicate(timeout=WAIT)[0].decode()
    finally:
        stop_all([child])
    assert child.returncode == code, out[-2000:]
    assert "Traceback" not in out and "failed with" not in out, out[-2000:]
    lines = [line for line in out.splitlines() if line.startswith("interrupted")]
    assert lines == ["interrupted; 0 of 5 trials finished; the running trial is recorded as "
                     "failed; rerun the same command to resume it from its last "
                     "checkpoint"]  # fmt: skip
    (trial,) = load(url, "i").trials
    assert trial.state == TrialState.FAIL and trial.user_attrs["fail_reason"] == "interrupted"


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] == "Z"
    except OSError:
        return True


def test_workers_are_placed_round_robin_on_gpus(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 3)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert cuda_placement("auto", 4) == ["0", "1", "2", "0"]
    assert cuda_placement("cpu", 2) == [None, None]
    assert cuda_placement("cuda:1", 2) == [None, None]  # one named GPU: all share it
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5")
    assert cuda_placement("cuda", 3) == ["4", "5", "4"]


@pytest.mark.slow
def test_postgres_worker_survives_dropped_connections(tmp_path, postgres_server):
    """The server ends every session of the worker's database mid-study (as a restart or an
    idle timeout does): the worker reconnects and finishes."""
    url = postgres_server.new_database()
    database = url.rsplit("/", 1)[1]
    create(tmp_path, url, "d", trials=3, epochs=2)
    command = automl_cmd(
        "worker", "--study", "d", "--storage", url, "--threads", 1, "--studies-dir", tmp_path
    )
    worker = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        dropped = 0
        deadline = time.monotonic() + WAIT
        while worker.poll() is None and time.monotonic() < deadline:
            dropped += postgres_server.drop_connections(database)
            time.sleep(0.7)
        out = worker.communicate(timeout=WAIT)[0].decode()
    finally:
        stop_all([worker])
    assert worker.returncode == 0, out[-3000:]
    assert dropped > 0
    study = load(url, "d")
    states = [(t.number, t.state.name, t.user_attrs.get("fail_reason")) for t in study.trials]
    assert sum(t.state in FINISHED for t in study.trials) >= 3, (states, out[-3000:])


def test_record_of_an_older_study_loads():
    attrs = {  # what studies made before the record stored (no "trials")
        "space": "scratch_cnn",
        "space_file": None,
        "data": "digits",
        "test_dir": None,
        "data_fingerprint": "f" * 64,
        "classes": ["0", "1"],
        "channels": 1,
        "epochs": 2,
        "seed": 0,
        "split_seed": 0,
        "val_indices": [1, 2],
        "resolution": 32,
        "fixed": {"resolution": 32},
        "model_options": {},
        "sampler": "tpe",
        "pruner": "none",
        "final_runs": [],  # not part of the record
    }
    record = StudyRecord.from_attrs(attrs)
    assert record is not None and record.trials is None and record.epochs == 2
    assert StudyRecord.from_attrs({"data": "digits"}) is None  # not (yet) a complete record
    with pytest.raises(StudyError, match="was not made by `automl search`"):
        StudyRecord.from_study(optuna.create_study())


def test_out_of_memory_fails_the_trial_and_the_search_goes_on(tmp_path, monkeypatch):
    """A trial that runs out of (GPU) memory ends FAIL with the reason recorded; a worker whose
    every trial fails stops after the study's number of trials instead of looping."""
    import torch

    from automl.study import objective

    def oom(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(objective, "fit", oom)
    study = automl.search(study="oom", trials=2, studies_dir=tmp_path, **TINY)
    assert [t.state for t in study.trials] == [TrialState.FAIL] * 2
    for trial in study.trials:
        assert trial.user_attrs["fail_reason"].startswith("OutOfMemoryError: CUDA out of memory")


def test_grid_visits_every_point_once():
    """The grid's order is shuffled by the seed once for the study (not per trial)."""
    study = optuna.create_study(sampler=create_sampler("grid", 3, {"a": [1, 2, 3], "b": [4, 5, 6]}))
    study.optimize(lambda t: t.suggest_categorical("a", [1, 2, 3]) * 10
                   + t.suggest_categorical("b", [4, 5, 6]), n_trials=20)  # fmt: skip
    assert len(study.trials) == 9 and len(set(param_sets(study))) == 9


def test_a_rerun_may_switch_sampler_and_pruner(tmp_path):
    automl.search(study="sw", trials=1, studies_dir=tmp_path, **TINY)
    study = automl.search(
        study="sw", trials=2, studies_dir=tmp_path, sampler="random", pruner="median"
    )
    record = StudyRecord.from_study(study)
    assert (record.sampler, record.pruner, record.trials) == ("random", "median", 2)


def test_worker_needs_a_heartbeat(tmp_path):
    r = CliRunner().invoke(
        app, ["worker", "--study", "x", "--heartbeat-interval", "0", "--studies-dir", str(tmp_path)]
    )
    assert r.exit_code == 2 and "--heartbeat-interval must be at least 1 s, got 0" in r.output
