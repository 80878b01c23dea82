"""`automl search`: check everything (no storage touched), create or resume the study (safe
when several processes do it at once), then run it with one or more workers."""

from __future__ import annotations

import logging
import time
from typing import Any

import optuna

from automl.errors import ConfigError
from automl.settings import Machine, SearchOptions, Workspace, settings_from
from automl.study.check import Plan, prepare
from automl.study.create import create_or_resume
from automl.study.noise import small_split_warning
from automl.study.progress import WatcherFactory, check_progress
from automl.study.record import StudyRecord
from automl.study.worker import UNTIL_TIMEOUT, ReadyStudy, run_worker

log = logging.getLogger(__name__)


def search(
    space: str | None = None,
    *,
    options: SearchOptions | None = None,
    workspace: Workspace | None = None,
    machine: Machine | None = None,
    progress: WatcherFactory | None = None,
    **keywords: Any,
) -> optuna.Study:
    """Run (or resume) a study until it has `trials` finished (completed or pruned) trials
    (default 20; with a `timeout` and no `trials`, until the time is up).

    The keywords are `automl.settings.SearchOptions` (or pass `options=`), `Workspace`'s
    `studies_dir` and `storage`, and `Machine`'s `device`, `precision` and `threads`.
    A rerun of an existing study takes what it leaves out from the study: `space` (default
    scratch_cnn for a new study), `data` and `test_dir` (default: the built-in digits).

    `epochs`, `seed` and `resolution` left as None take the study's stored values on resume;
    `fix` pins any of the space's params (`{"backbone": "resnet18"}`) for the trials to come.
    `threads` (torch intra-op threads while it runs) defaults to OMP_NUM_THREADS or every core;
    `workers` > 1 runs that many worker processes on the study, sharing the cores;
    `offline` never downloads pretrained weights (else timm downloads missing ones);
    `portfolio` runs the space's known-good configurations first in a new study;
    `limits` (params, FLOPs, latency) prune models over them before they train; the study
    keeps them, and a resume replaces only the ones it gives; `dedupe` (a new study on an
    image folder) leaves out training photos that have a copy in the held-out folder;
    `cv` (K >= 2) values each trial by the mean over K stratified folds of the training pool
    instead of the 80/20 split (docs/concepts.md, Folds).
    `progress` shows the search as it runs (automl/study/progress.py): the CLI's display is
    `automl.display.TrialPrinter`; None (or False) shows nothing but log lines.
    """
    started = time.perf_counter()  # the start-up its first trial records
    if options is None:
        options, workspace, machine = settings_from(
            {"space": space, **keywords}, workspace, machine
        )
    elif space is not None or keywords:
        raise ConfigError("search() takes options= or keywords, not both")
    workspace, machine = workspace or Workspace(), machine or Machine()
    progress = check_progress(progress)
    with machine.threads_set():
        plan = prepare(options, workspace, machine)  # a rerun: what it leaves out, from its study
        ready = create_or_resume(plan, workspace, options.heartbeat_interval)
        _announce(plan, ready.record)
        return _run(ready, plan, workspace, machine, progress, started)


def _announce(plan: Plan, record: StudyRecord) -> None:
    for warning in (*plan.outside, small_split_warning(len(record.val_indices), record.cv)):
        if warning:
            log.warning(warning)
    resolution = record.fixed.get("resolution")
    if plan.options.resolution is None and resolution and plan.source.default_resolution:
        log.info(
            "%s: resolution fixed at %d px (pass --resolution to change)",
            plan.source.name,
            resolution,
        )


def _run(
    ready: ReadyStudy,
    plan: Plan,
    workspace: Workspace,
    machine: Machine,
    progress: WatcherFactory | None,
    started: float,
) -> optuna.Study:
    """The study's trials, run here (one worker) or by worker processes started here."""
    run = plan.run
    workers = plan.options.workers
    if workers == 1:
        return run_worker(ready, workspace, machine, run, progress, started)
    from automl.study.pool import run_workers

    run_workers(ready.study, workspace, machine, workers, run.trials or UNTIL_TIMEOUT, progress)
    return ready.study
