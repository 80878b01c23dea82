"""Create the study, or resume it: safe when several processes do it at the same moment."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import optuna

from automl.settings import Workspace
from automl.study.check import Plan
from automl.study.datacheck import check_study_data
from automl.study.folds import fold_rows
from automl.study.limits import Limits
from automl.study.record import StudyRecord
from automl.study.split import training_pool, validation_rows
from automl.study.storage import open_storage, storage_for_workers
from automl.study.weights import fetch_study_backbones, settle_backbones
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
    rdb = open_storage(plan.storage, heartbeat_interval=heartbeat_interval)
    existing = plan.study_name in optuna.get_all_study_names(rdb)
    the_study = optuna.load_study(study_name=plan.study_name, storage=rdb) if existing else None
    stored = None if the_study is None else StudyRecord.written(the_study)
    if stored is None:  # weights, decode and split first: a failure leaves no half-made study
        record = _new_record(plan, workspace.paths.cache)
        if the_study is None:
            try:
                the_study = optuna.create_study(
                    study_name=plan.study_name, direction="maximize", storage=rdb
                )
            except optuna.exceptions.DuplicatedStudyError:  # another process created it
                the_study = optuna.load_study(study_name=plan.study_name, storage=rdb)
                stored = StudyRecord.written(the_study)
    if stored is not None:
        return _resumed(the_study, stored, plan)
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


def _resumed(the_study: optuna.Study, stored: StudyRecord, plan: Plan) -> ReadyStudy:
    """A study that exists: its frozen settings checked against this command's, the ones a
    rerun may change written, its space narrowed to its choices, their weights fetched."""
    stored.check_same(plan.record, plan.study_name, set(plan.given))
    stored.check_space_edit(the_study, plan.space, plan.record.space_file_hash)
    # New pins replace the study's; without --fix the stored ones stay, with today's added.
    pins = {**stored.fixed, **plan.record.fixed}
    if plan.options.fix is not None:
        pins = dict(plan.record.fixed)
    if stored.resolution is not None:
        pins["resolution"] = stored.resolution
    stored.check_pins(pins, plan.study_name, plan.space.choices)
    choices = stored.study_choices(the_study, plan.space.backbone_param)
    space = plan.space.with_choices(choices)
    backbones = space.backbones(pins, stored.model_options)
    fetch_study_backbones(backbones, plan.options.offline)  # here before any trial
    limits = Limits.from_dict(stored.limits).replaced_by(plan.options.limits)
    record = stored.update(
        the_study,
        space_file_hash=plan.record.space_file_hash,
        trials=plan.record.trials,
        fixed=pins,
        limits=limits.to_dict(),
        sampler=plan.record.sampler,  # not frozen: a rerun may switch them
        pruner=plan.record.pruner,
        worker_options=plan.record.worker_options,
    )
    return ReadyStudy(the_study, record, space, plan.source)


def _new_record(plan: Plan, cache_dir: Path) -> StudyRecord:
    """The record of a study about to be made: its backbones' weights settled (downloaded
    unless offline), its images decoded and split."""
    r = plan.record
    base = plan.space.max_resolution(r.fixed)  # decoded once at it, smaller ones resized
    backbones = plan.space.backbones(r.fixed, r.model_options)
    # the data check first: it refuses unusable folders
    data_check, excluded = check_study_data(plan.source, plan.resolution, r.dedupe, cache_dir, base)
    settled = settle_backbones(plan.space.backbone_param, backbones, r.fixed, plan.options.offline)
    pool = training_pool(plan.source, plan.resolution, cache_dir, base, excluded)
    return dataclasses.replace(
        r,
        val_indices=validation_rows(pool, r.split_seed, r.classes),
        folds=fold_rows(pool, r.cv, r.split_seed, r.classes) if r.cv else [],
        choices={**plan.space.choices, **settled},  # widened by a pin outside them
        data_check=data_check,
        excluded=excluded,
        decode_base=base,
    )
