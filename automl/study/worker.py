"""A worker: runs trials of an existing study, built from the study's record alone.

`automl search` runs one in its own process (or starts several, `--workers N`); `automl
worker --study NAME --storage URL` runs one on any machine that reaches the storage.
"""

from __future__ import annotations

import logging
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import optuna
import torch
from optuna.trial import FrozenTrial, TrialState

from automl import optuna_compat
from automl.data import DataSource
from automl.interrupt import Interrupted
from automl.settings import Machine, WorkerOptions, Workspace
from automl.spaces import Space
from automl.study.checkpoints import Checkpoints, queue_interrupted
from automl.study.limits import Limits
from automl.study.noise import small_split_warning
from automl.study.objective import (
    Objective,
    recording_interrupts,
)
from automl.study.progress import WatcherFactory, watching
from automl.study.recheck import NotARecheck, is_recheck, queue_rechecks
from automl.study.record import StudyRecord
from automl.study.samplers import create_pruner, create_sampler
from automl.study.storage import fail_stale_trials, load_study, reconnecting
from automl.study.weights import fetch_study_backbones
from automl.track.study import open_tracking
from automl.train.precision import resolve_device, resolve_precision

log = logging.getLogger(__name__)

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
UNTIL_TIMEOUT = sys.maxsize  # a trial target that only a timeout ends
POLL_SECONDS = 1.0  # how often an idle worker looks whether a trial needs running again


def count_finished(study: optuna.Study) -> int:
    """The study's finished search trials (its re-checks are not among them)."""
    return sum(not is_recheck(t) for t in study.get_trials(deepcopy=False, states=FINISHED))


@dataclass(frozen=True)
class Budget:
    """Stops a worker once the study has `target` finished trials, without starting trials
    that would overshoot it: while the trials still running elsewhere would reach the target,
    the worker waits, and takes over a trial whose worker died (failed by the heartbeat and
    queued again) instead of leaving it. `patience`: the longest wait for trials running
    elsewhere (past the heartbeat's grace period, a dead worker's trial is failed and queued
    again, and taken over)."""

    target: int  # finished search trials (re-checks come after them: recheck.py)
    deadline: float | None = None
    patience: float = 60.0

    def work_left(self, study: optuna.Study) -> bool:
        """True while the search needs a trial from this worker."""

        def decide(trials: list[FrozenTrial]) -> bool | None:
            trials = [t for t in trials if not is_recheck(t)]
            finished = sum(t.state in FINISHED for t in trials)
            running = sum(t.state == TrialState.RUNNING for t in trials)
            waiting = any(t.state == TrialState.WAITING for t in trials)
            if finished >= self.target:
                return False
            if waiting or finished + running < self.target:
                return True
            return None

        return self._polled(study, decide)

    def rechecks_left(self, study: optuna.Study) -> bool:
        """True while a queued re-check (recheck.py) waits for a worker, before the deadline;
        one running elsewhere is waited for, and taken over if its worker died."""
        if self.deadline is not None and time.monotonic() > self.deadline:
            return False

        def decide(trials: list[FrozenTrial]) -> bool | None:
            states = [t.state for t in trials if is_recheck(t)]
            if TrialState.WAITING in states:
                return True
            return None if TrialState.RUNNING in states else False

        return self._polled(study, decide)

    def _polled(self, study: optuna.Study, decide) -> bool:
        """`decide(trials)`: True or False, or None to wait for the trials running elsewhere
        (up to `patience`, and the deadline), looking again every POLL_SECONDS."""
        give_up = time.monotonic() + self.patience
        while True:
            fail_stale_trials(study)
            answer = decide(study.get_trials(deepcopy=False))
            if answer is not None:
                return answer
            now = time.monotonic()
            if now > give_up or (self.deadline is not None and now > self.deadline):
                return False  # the others finish their trials; no need to wait for them
            time.sleep(POLL_SECONDS)

    def reached(self, study: optuna.Study) -> bool:
        return count_finished(study) >= self.target

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if not self.work_left(study):
            study.stop()


@dataclass(frozen=True)
class ReadyStudy:
    """A study ready for its trials: its record, its space narrowed to the study's choices
    (their pretrained weights here) and its data. `automl search` has them from its checks;
    `automl worker` reads them from the record (`join`)."""

    study: optuna.Study
    record: StudyRecord
    space: Space
    source: DataSource

    def announce(self, warnings: Sequence[str], resolution_given: bool) -> None:
        """What a search says once, when its study is ready: its checks' `warnings`, a small
        validation split's, and a resolution the data fixed."""
        record = self.record
        for warning in (*warnings, small_split_warning(len(record.val_indices), record.cv)):
            if warning:
                log.warning(warning)
        resolution = record.fixed.get("resolution")
        if not resolution_given and resolution and self.source.default_resolution:
            log.info(
                "%s: resolution fixed at %d px (pass --resolution to change)",
                self.source.name,
                resolution,
            )


def run_worker(
    ready: ReadyStudy,
    workspace: Workspace,
    machine: Machine,
    run: WorkerOptions,
    progress: WatcherFactory | None = None,
    started: float | None = None,
) -> optuna.Study:
    """Run trials of the study until it has `run.trials` finished ones (default: the number
    its last `search` asked for; with only a timeout, as many as the time allows).
    `started` (time.perf_counter(), default now): when the caller's run began, for the
    start-up its first trial records."""
    started = time.perf_counter() if started is None else started
    the_study, record = ready.study, ready.record
    endless = run.timeout is not None and not (run.trials or record.trials)
    target = run.trials or record.trials or count_finished(the_study) + 1
    target = UNTIL_TIMEOUT if endless else target
    deadline = None if run.timeout is None else time.monotonic() + run.timeout
    # Wait for others' trials long enough for a dead worker's one to go stale (2 heartbeats).
    budget = Budget(target, deadline, patience=3 * run.heartbeat + 10)

    def run_trials(n_trials: int, callbacks: list, catch: tuple = ()) -> bool:
        """Optuna runs up to `n_trials`; False when it must be called again."""
        try:
            the_study.optimize(
                objective,
                n_trials=n_trials,
                timeout=None if deadline is None else max(0.0, deadline - time.monotonic()),
                callbacks=callbacks if shown is None else [shown, *callbacks],
                catch=(torch.OutOfMemoryError, *catch),
            )
            return True
        except (optuna.exceptions.UpdateFinishedTrialError, ValueError) as exc:
            # Two SQLite workers can both start the same queued (portfolio) trial: Optuna
            # reads its WAITING state before taking the write lock. The second to finish
            # finds it finished; its result is a duplicate, and the search goes on.
            if not optuna_compat.finished_elsewhere(exc):
                raise
            log.warning("%s (another worker ran the same queued trial); going on", exc)
            return False

    def optimize() -> None:  # the trials, once the objective below is built
        resumed = queue_interrupted(the_study, searching=not budget.reached(the_study))
        if resumed:
            log.info(
                "queued again to resume from their checkpoints: trial %s (interrupted)",
                ", ".join(f"#{n}" for n in resumed),
            )
        while budget.work_left(the_study):  # `target`: a bound even if every trial fails
            if run_trials(target, [budget]):
                break
        fail_stale_trials(the_study)  # what a dead worker left RUNNING, failed now
        if endless or not budget.reached(the_study):
            return  # a search its timeout ended, or one Ctrl-C'd, re-checks nothing
        queued = queue_rechecks(the_study, record.recheck or 0)
        if queued:
            log.info(
                "re-checking the %d best configurations with other seeds: trial %s",
                len(queued),
                ", ".join(f"#{n}" for n in queued),
            )
        objective.rechecks_only = True  # a trial Optuna samples now would overshoot
        try:
            while budget.rechecks_left(the_study):
                run_trials(1, [], (NotARecheck,))  # the queued re-check this worker takes
        finally:
            objective.rechecks_only = False
        if deadline is not None and time.monotonic() > deadline:
            log.info("the timeout came during the re-checks; rerun the search to finish them")
            return
        fail_stale_trials(the_study)
        checkpoints.sweep(the_study)  # the search has its trials: what killed workers left

    done = reconnecting(lambda: count_finished(the_study))
    amp = resolve_precision(
        machine.precision, resolve_device(machine.device), workspace.paths.cache
    )
    the_study.sampler = create_sampler(
        record.sampler, record.seed, ready.space.grid, record.fixed, trials=target
    )
    the_study.pruner = create_pruner(record.pruner, record.epochs)
    log.info(
        "training in %s on %s, %d threads: %s",
        amp.name,
        amp.device,
        torch.get_num_threads(),
        amp.reason,
    )
    checkpoints = Checkpoints.of(
        record.artifacts,
        workspace.paths,
        the_study.study_name,
        run.over(record.worker_options).checkpoint_interval,
    )
    limits = Limits.from_dict(record.limits)
    if limits:
        log.info("deployment limits: %s (models over them are pruned untrained)", limits.describe())
    if done:
        log.info(
            "resuming study %s: %d%s trials finished",
            the_study.study_name,
            done,
            "" if endless else f" of {target}",
        )
    names = record.track if run.track is None else run.track
    tracking = open_tracking(names, the_study.study_name, record, workspace.paths, say=True)
    printer = watching(progress, the_study, None if endless else target, done)

    with printer as shown, warnings.catch_warnings():
        # a pin outside the space's range is used as given, and was warned of once already
        warnings.filterwarnings("ignore", message=optuna_compat.FIXED_OUT_OF_RANGE)
        warnings.filterwarnings("ignore", message=optuna_compat.GRID_OUT_OF_RANGE)
        objective = Objective(
            ready.space,
            ready.source,
            record,
            precision=amp,
            cache_dir=workspace.paths.cache,
            on_epoch=None if shown is None else shown.epoch,
            started=started,
            checkpoints=checkpoints,
            tracking=tracking,
        )
        try:
            with recording_interrupts(the_study, objective):
                reconnecting(optimize)
        except KeyboardInterrupt as exc:
            try:  # best effort: the storage may be what was being waited for
                finished = f"{count_finished(the_study)}{'' if endless else f' of {target}'}"
            except Exception:
                finished = "some"
            advice = "rerun the same command to resume" + (
                " it from its last checkpoint" if checkpoints.every else " it from its first epoch"
            )
            raise Interrupted.of(
                exc, f"{finished} trials finished; the running trial is recorded as failed", advice
            ) from None
        finally:
            tracking.finish()
    return the_study


def join(
    study: str,
    workspace: Workspace,
    machine: Machine,
    run: WorkerOptions = WorkerOptions(),
    progress: WatcherFactory | None = None,
) -> optuna.Study:
    """`automl worker`: join study `study` in its workspace's storage and run its trials,
    built from the study's record alone: its space, the weights of the backbones it samples
    (fetched first, downloaded unless offline) and its data where it is now."""
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
        space = record.load_space()
        space = space.with_choices(record.study_choices(the_study, space.backbone_param))
        fetch_study_backbones(
            space.backbones(record.fixed, record.model_options), bool(run.offline)
        )
        source = record.open_data(study, run.data, run.test_dir, held_out=False)
        ready = ReadyStudy(the_study, record, space, source)
        return run_worker(ready, workspace, machine, run, progress, started)
