"""A worker: runs trials of an existing study, built from the study's record alone.

`automl search` runs one in its own process (or starts several, `--workers N`); `automl
worker --study NAME --storage URL` runs one on any machine that reaches the storage.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
import warnings

import optuna
import torch
from optuna.trial import FrozenTrial, TrialState

from automl import optuna_compat
from automl.data import DataSource
from automl.errors import ConfigError
from automl.interrupt import Interrupted
from automl.settings import Machine, WorkerOptions, Workspace
from automl.spaces import Space
from automl.study.limits import Limits
from automl.study.objective import (
    Objective,
    noting_each_trial,
    record_interrupt,
    stop_heartbeats,
)
from automl.study.progress import WatcherFactory
from automl.study.record import StudyRecord
from automl.study.samplers import create_pruner, create_sampler
from automl.study.storage import fail_stale_trials, load_study, reconnecting
from automl.study.weights import fetch_study_backbones, study_choices
from automl.train.precision import resolve_device, resolve_precision

log = logging.getLogger(__name__)

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
UNTIL_TIMEOUT = sys.maxsize  # a trial target that only a timeout ends
POLL_SECONDS = 1.0  # how often an idle worker looks whether a trial needs running again


def count_finished(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=FINISHED))


class Budget:
    """Stops a worker once the study has `target` finished trials, without starting trials
    that would overshoot it: while the trials still running elsewhere would reach the target,
    the worker waits, and takes over a trial whose worker died (failed by the heartbeat and
    queued again) instead of leaving it."""

    def __init__(self, target: int, deadline: float | None = None, patience: float = 60.0) -> None:
        # patience: the longest wait for trials running elsewhere (past the heartbeat's
        # grace period, a dead worker's trial is failed and queued again, and taken over)
        self.target, self.deadline, self.patience = target, deadline, patience

    def work_left(self, study: optuna.Study) -> bool:
        give_up = time.monotonic() + self.patience
        while True:
            fail_stale_trials(study)
            trials = study.get_trials(deepcopy=False)
            finished = sum(t.state in FINISHED for t in trials)
            running = sum(t.state == TrialState.RUNNING for t in trials)
            waiting = any(t.state == TrialState.WAITING for t in trials)
            if finished >= self.target:
                return False
            if waiting or finished + running < self.target:
                return True
            now = time.monotonic()
            if now > give_up or (self.deadline is not None and now > self.deadline):
                return False  # the others finish their trials; no need to wait for them
            time.sleep(POLL_SECONDS)

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if not self.work_left(study):
            study.stop()


def run_worker(
    the_study: optuna.Study,
    record: StudyRecord,
    workspace: Workspace,
    machine: Machine,
    run: WorkerOptions,
    progress: WatcherFactory | None = None,
    *,
    space: Space | None = None,
    source: DataSource | None = None,
    started: float | None = None,
) -> optuna.Study:
    """Run trials of `the_study` until it has `run.trials` finished ones (default: the number
    its last `search` asked for; with only a timeout, as many as the time allows).
    `space`/`source` are reused when the caller has them; pretrained weights the study needs
    are fetched first (downloaded unless offline). `started` (time.perf_counter(), default
    now): when the caller's run began, for the start-up its first trial records."""
    started = time.perf_counter() if started is None else started
    endless = run.timeout is not None and not (run.trials or record.trials)
    target = run.trials or record.trials or count_finished(the_study) + 1
    target = UNTIL_TIMEOUT if endless else target
    space = space or record.load_space()
    space = space.with_choices(study_choices(the_study, record.choices, space))
    fetch_study_backbones(space, record.fixed, record.model_options, bool(run.offline))
    if source is None:
        source = record.open_data(the_study.study_name, run.data, run.test_dir, held_out=False)
    cache_dir = workspace.paths.cache
    amp = resolve_precision(machine.precision, resolve_device(machine.device), cache_dir)
    the_study.sampler = create_sampler(
        record.sampler, record.seed, space.grid, record.fixed, trials=target
    )
    the_study.pruner = create_pruner(record.pruner, record.epochs)
    deadline = None if run.timeout is None else time.monotonic() + run.timeout
    # Wait for others' trials long enough for a dead worker's one to go stale (2 heartbeats).
    budget = Budget(target, deadline, patience=3 * run.heartbeat + 10)
    log.info(
        "training in %s on %s, %d threads: %s",
        amp.name,
        amp.device,
        torch.get_num_threads(),
        amp.reason,
    )
    limits = Limits.from_dict(record.limits)
    if limits:
        log.info("deployment limits: %s (models over them are pruned untrained)", limits.describe())
    done = reconnecting(lambda: count_finished(the_study))
    if done:
        log.info(
            "resuming study %s: %d%s trials finished",
            the_study.study_name,
            done,
            "" if endless else f" of {target}",
        )
    callbacks: list = [budget]
    printer = watching(progress, the_study, None if endless else target, done)

    def optimize() -> None:
        while budget.work_left(the_study):
            try:
                the_study.optimize(
                    objective,
                    n_trials=target,  # a bound even if every trial fails (say, out of memory)
                    timeout=None if deadline is None else max(0.0, deadline - time.monotonic()),
                    callbacks=callbacks,
                    catch=(torch.OutOfMemoryError,),
                )
                return
            except (optuna.exceptions.UpdateFinishedTrialError, ValueError) as exc:
                # Two SQLite workers can both start the same queued (portfolio) trial: Optuna
                # reads its WAITING state before taking the write lock. The second to finish
                # finds it finished; its result is a duplicate, and the search goes on.
                if not optuna_compat.finished_elsewhere(exc):
                    raise
                log.warning("%s (another worker ran the same queued trial); going on", exc)

    with printer as shown, warnings.catch_warnings():
        # a pin outside the space's range is used as given, and was warned of once already
        warnings.filterwarnings("ignore", message=optuna_compat.FIXED_OUT_OF_RANGE)
        warnings.filterwarnings("ignore", message=optuna_compat.GRID_OUT_OF_RANGE)
        if shown is not None:
            callbacks.insert(0, shown)
        objective = Objective(
            space,
            source,
            record.val_indices,
            epochs=record.epochs,
            precision=amp,
            seed=record.seed,
            cache_dir=cache_dir,
            model_options=record.model_options,
            limits=limits,
            excluded=record.excluded,
            decode_base=record.decode_base,
            on_epoch=None if shown is None else shown.epoch,
            started=started,
            folds=record.folds,
        )
        try:
            with noting_each_trial(the_study, objective):
                reconnecting(optimize)
        except KeyboardInterrupt as exc:
            stop_heartbeats()
            try:  # best effort: the storage may be what was being waited for
                record_interrupt(the_study, objective.current)
                finished = f"{count_finished(the_study)}{'' if endless else f' of {target}'}"
            except Exception:
                finished = "some"
            raise Interrupted.of(exc, f"{finished} trials finished") from None
    reconnecting(lambda: fail_stale_trials(the_study))
    return the_study


def join(
    study: str,
    workspace: Workspace,
    machine: Machine,
    run: WorkerOptions = WorkerOptions(),
    progress: WatcherFactory | None = None,
) -> optuna.Study:
    """`automl worker`: join study `study` in its workspace's storage and run its trials."""
    started = time.perf_counter()
    url = workspace.storage_for(study)
    with machine.threads_set():
        record = reconnecting(
            lambda: StudyRecord.from_study(load_study(study, url)), refused_too=False
        )
        run = run.over(record.worker_options)
        the_study = reconnecting(
            lambda: load_study(study, url, heartbeat_interval=run.heartbeat), refused_too=False
        )
        return run_worker(the_study, record, workspace, machine, run, progress, started=started)


def check_progress(progress: WatcherFactory | bool | None) -> WatcherFactory | None:
    """None or False: nothing shown; else a watcher factory, such as TrialPrinter."""
    if progress is None or progress is False:
        return None
    if not callable(progress):
        raise ConfigError(
            "progress must be None or a watcher factory such as "
            f"automl.display.TrialPrinter, got {progress!r}"
        )
    return progress


def watching(factory: WatcherFactory | None, study: optuna.Study, total: int | None, done: int):
    """The watcher of this run, entered around its trials, or a context that shows nothing."""
    factory = check_progress(factory)
    if factory is None:
        return contextlib.nullcontext(None)
    return factory(study.study_name, total, done)
