"""Create the study, or resume it: safe when several processes do it at the same moment."""

from __future__ import annotations

import dataclasses
import logging

import optuna

from automl.settings import Workspace
from automl.study.check import Plan
from automl.study.new import new_record
from automl.study.record import StudyRecord
from automl.study.resume import resume
from automl.study.storage import (
    database_folder,
    open_storage,
    sqlite_path,
    storage_for_workers,
)
from automl.study.worker import ReadyStudy

log = logging.getLogger(__name__)


def create_or_resume(
    plan: Plan, workspace: Workspace, heartbeat_interval: int | None
) -> ReadyStudy:
    """The study, its record, and its space narrowed to the study's choices, with their
    weights here. Idempotent, and safe when several processes run it at the same moment: one
    creates the study and writes the record, the others wait and read it."""
    if plan.options.workers > 1:
        storage_for_workers(plan.storage, plan.options.workers)  # refuses in-memory storage
    # A study file that does not exist yet holds no study: its record first, so that a
    # refusal (a class smaller than --cv, missing weights) leaves no empty file behind.
    path, record = sqlite_path(plan.storage), None
    if path is not None and not path.exists():
        database_folder(path)  # an unusable --storage is refused first, as always
        record = new_record(plan, workspace.paths.cache)
    rdb = open_storage(plan.storage, heartbeat_interval=heartbeat_interval)
    existing = plan.study_name in optuna.get_all_study_names(rdb)
    the_study = optuna.load_study(study_name=plan.study_name, storage=rdb) if existing else None
    stored = None if the_study is None else StudyRecord.written(the_study)
    if stored is None:  # weights, decode and split first: a failure leaves no half-made study
        record = record or new_record(plan, workspace.paths.cache)
        if the_study is None:
            try:
                the_study = optuna.create_study(
                    study_name=plan.study_name,
                    directions=plan.record.objectives.directions,
                    storage=rdb,
                )
            except optuna.exceptions.DuplicatedStudyError:  # another process created it
                the_study = optuna.load_study(study_name=plan.study_name, storage=rdb)
                stored = StudyRecord.written(the_study)
    if stored is not None:
        return resume(the_study, stored, plan)
    # Ours, made by hand, or by a run killed before its record was written.
    space = plan.space.with_choices(record.choices)
    if plan.portfolio and not the_study.get_trials(deepcopy=False):
        trials = space.portfolio_trials(record.fixed)
        trials = trials[: record.trials]  # a short study runs no more than it asked for
        for params in trials:  # known-good configurations first, before the sampler draws
            the_study.enqueue_trial(params, skip_if_exists=True)
        if trials:
            log.info(
                "study %s runs %d known-good configurations first", plan.study_name, len(trials)
            )
        record = dataclasses.replace(record, portfolio=len(trials))
    record.write(the_study)
    return ReadyStudy(the_study, record, space, plan.source)
