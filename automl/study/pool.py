"""`--workers N`: N `automl worker` processes on one study, watched from here.

Each worker is its own process with its own share of the cores (and its own GPU, round
robin, where there are several); they coordinate only through the study's storage. This
process shows one progress display for all of them, stops them all on Ctrl-C, and fails if
one of them died.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import optuna
from optuna.trial import TrialState

from automl.errors import StudyError
from automl.interrupt import stop_signals_interrupt
from automl.settings import Machine, Workspace
from automl.study.progress import WatcherFactory, watching
from automl.study.record import TrialRecord
from automl.study.storage import fail_stale_trials, reconnecting, sqlite_path
from automl.study.worker import FINISHED, count_finished
from automl.train.machine import usable_cores

STOP_SECONDS = 30.0  # how long stopped workers get to record their trials before SIGKILL
ENDED = (*FINISHED, TrialState.FAIL)


def cuda_placement(device: str, workers: int) -> list[str | None]:
    """CUDA_VISIBLE_DEVICES for each worker: the visible GPUs round robin where the device is
    `auto` or `cuda` and there are any; None (inherit) otherwise."""
    import torch

    if device not in ("auto", "cuda") or not torch.cuda.is_available():
        return [None] * workers
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    gpus = visible.split(",") if visible else [str(i) for i in range(torch.cuda.device_count())]
    return [gpus[i % len(gpus)] for i in range(workers)]


def worker_argv(study: str, workspace: Workspace, machine: Machine) -> list[str]:
    """`automl worker` on `study`: its name, where it lives and this worker's machine; the
    worker reads everything else from the study's record (what this search wrote there)."""
    storage = workspace.storage_for(study)
    path = sqlite_path(storage)
    if path is not None:  # a relative file name must not depend on the workers' folder
        storage = f"sqlite:///{path.resolve()}"
    argv = [sys.executable, "-m", "automl", "worker", "--study", study, "--storage", storage]
    argv += ["--studies-dir", str(workspace.studies_dir.resolve())]
    argv += ["--device", machine.device, "--precision", machine.precision]
    return argv + ([] if machine.threads is None else ["--threads", str(machine.threads)])


def run_workers(
    study: optuna.Study,
    workspace: Workspace,
    machine: Machine,
    workers: int,
    total: int,
    progress: WatcherFactory | None,
) -> None:
    """Start `workers` worker processes on `study`, sharing the cores, and wait for them all
    (`total`: the finished trials they aim at, for the progress display)."""
    threads = machine.threads or max(1, usable_cores() // workers)
    argv = worker_argv(study.study_name, workspace, dataclasses.replace(machine, threads=threads))
    logs = workspace.paths.workers(study.study_name)
    logs.mkdir(parents=True, exist_ok=True)
    procs: list[tuple[subprocess.Popen, Path]] = []
    with stop_signals_interrupt():
        _run(study, procs, argv, machine.device, workers, logs, total, progress)
    died = [(i, p.returncode, log) for i, (p, log) in enumerate(procs) if p.returncode != 0]
    if died:
        i, code, log = died[0]
        last = _last_line(log)
        raise StudyError(
            f"{len(died)} of {workers} workers failed; worker {i} exited with code {code}"
            + (f" ({last})" if last else "")
            + f"; its log: {log}. Rerun the same command to finish the study"
        )


def _run(study, procs, argv, device, workers, logs, trials, progress) -> None:
    """Start the workers into `procs` and watch them; on any interruption, stop them all."""
    with _stopped_on_interruption(study, procs):
        for i, gpu in enumerate(cuda_placement(device, workers)):
            env = dict(os.environ)
            if gpu is not None:
                env["CUDA_VISIBLE_DEVICES"] = gpu
            log_path = logs / f"worker-{i}.log"
            with open(log_path, "ab") as log_file:  # the child keeps its own handle
                procs.append(
                    (
                        subprocess.Popen(
                            argv,
                            stdin=subprocess.DEVNULL,
                            stdout=log_file,
                            stderr=subprocess.STDOUT,
                            env=env,
                            start_new_session=True,  # Ctrl-C reaches us; we stop them once
                        ),
                        log_path,
                    )
                )
        _watch(study, [p for p, _ in procs], trials, progress)


@contextlib.contextmanager
def _stopped_on_interruption(study: optuna.Study, procs: list[tuple[subprocess.Popen, Path]]):
    """Whatever interrupts the block (Ctrl-C, a stop signal, an error) stops every worker
    started into `procs` so far, then goes on."""
    try:
        yield
    except BaseException:
        _stop(study, [p for p, _ in procs])
        raise


def _watch(study: optuna.Study, procs: list[subprocess.Popen], total: int, progress):
    """Wait for the workers, printing each trial as it ends (from whichever worker); then
    fail the trials a dead one left RUNNING."""
    seen = {t.number for t in study.get_trials(deepcopy=False, states=ENDED)}
    with watching(progress, study, total, count_finished(study)) as printer:
        while True:
            alive = any(p.poll() is None for p in procs)
            ended = reconnecting(lambda: study.get_trials(deepcopy=False, states=ENDED))
            for trial in ended:
                if trial.number not in seen:
                    seen.add(trial.number)
                    if printer is not None:
                        printer(study, trial)
            if not alive:
                break
            time.sleep(0.5)
    reconnecting(lambda: fail_stale_trials(study))


def _stop(study: optuna.Study, procs: list[subprocess.Popen]) -> None:
    """SIGINT every worker (each records its running trial as failed), then SIGKILL the
    ones that have not ended in STOP_SECONDS; trials a killed worker left RUNNING are
    failed here, so none is left behind. A second Ctrl-C meanwhile does not cut it short."""
    main = threading.current_thread() is threading.main_thread()
    before = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
    try:
        _stop_all(study, procs)
    finally:
        if main:
            signal.signal(signal.SIGINT, before)


def _stop_all(study: optuna.Study, procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    deadline = time.monotonic() + STOP_SECONDS
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    ours = {f"{socket.gethostname()}:{p.pid}" for p in procs}
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if str(TrialRecord.of(trial).worker).split(" ")[0] in ours:
            with contextlib.suppress(ValueError, RuntimeError):  # it ended meanwhile
                study.tell(trial.number, state=TrialState.FAIL)


def _last_line(path: Path) -> str:
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines()]
    except OSError:
        return ""
    lines = [line for line in lines if line]
    return lines[-1][:200] if lines else ""
