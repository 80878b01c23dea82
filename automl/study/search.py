"""`automl search`: check everything (no storage touched), create or resume the study (safe
when several processes do it at once), then run it with one or more workers."""

from __future__ import annotations

import time
from typing import Any

import optuna

from automl.errors import ConfigError
from automl.settings import Machine, SearchOptions, Workspace, settings_from
from automl.study.check import prepare
from automl.study.create import create_or_resume
from automl.study.progress import WatcherFactory, check_progress
from automl.study.worker import UNTIL_TIMEOUT, run_worker


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
    instead of the 80/20 split (docs/concepts.md, Folds); `recheck` (N >= 0; None: 3 when
    the validation split or a fold holds under 500 images, else 0) trains the N best
    configurations again with other seeds once the trials are done, and finalize retrains
    the best mean over a configuration's runs (docs/concepts.md, Re-checks).
    `checkpoint_every` (N >= 0; None: the study's, else 1) writes a running trial's checkpoint
    every N epochs (0: none), from which the retry of a trial cut short resumes; `artifacts`
    (a new study: a folder, s3://... or gs://...) is where they go, kept by the study
    (default: studies/<study>/checkpoints; docs/concepts.md, Checkpoints).
    `objective` ("accuracy,params", or a tuple; the cost: params, flops or latency; None:
    accuracy alone, or the study's) makes a new study a Pareto search of accuracy against that
    cost, pruned by automl's own rule (`pruner` "pareto", or "none"; docs/concepts.md,
    Accuracy against cost); a rerun giving other objectives is refused.
    `track` ("mlflow", "wandb", "tensorboard", or a list; "none" stops; None: the study's)
    logs a run per trial to those trackers, kept by the study for its workers, reruns and
    finalize (docs/tracking.md).
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
        ready.announce(plan.outside, resolution_given=options.resolution is not None)
        if options.workers == 1:
            return run_worker(ready, workspace, machine, plan.run, progress, started)
        from automl.study.pool import run_workers  # worker processes started here
        from automl.track.study import open_tracking

        record = ready.record  # its trackers' study runs made once, here, before the workers
        name = ready.study.study_name
        tracking = open_tracking(record.track, name, record, workspace.paths, say=True)
        trials = plan.run.trials or UNTIL_TIMEOUT
        try:
            run_workers(ready.study, workspace, machine, options.workers, trials, progress)
        finally:
            tracking.finish()  # the last word on the study's run, once every worker ended
        return ready.study
