"""A study that exists, run again: this command's settings checked against the study's, the
ones a rerun may change written to its record."""

from __future__ import annotations

import optuna

from automl.study.check import Plan
from automl.study.limits import Limits
from automl.study.noise import settled_rechecks
from automl.study.record import StudyRecord
from automl.study.weights import fetch_study_backbones
from automl.study.worker import ReadyStudy


def resume(the_study: optuna.Study, stored: StudyRecord, plan: Plan) -> ReadyStudy:
    """A study that exists: its frozen settings checked against this command's, the ones a
    rerun may change written, its space narrowed to its choices, their weights fetched."""
    # New pins replace the study's; without --fix the stored ones stay, with today's added.
    pins = {**stored.fixed, **plan.record.fixed}
    if plan.options.fix is not None:
        pins = dict(plan.record.fixed)
    if stored.resolution is not None:
        pins["resolution"] = stored.resolution
    stored.check_same(plan.record, plan.study_name, set(plan.given))
    stored.check_pins(pins, plan.study_name, plan.space.choices)
    choices = stored.study_choices(the_study, plan.space.backbone_param)
    stored.check_space_edit(the_study, plan.space, plan.record.space_file_hash)
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
        worker_options=_worker_options(stored, plan.record),
        recheck=settled_rechecks(plan.options.recheck, stored),
        track=stored.track if plan.options.track is None else plan.record.track,
    )
    return ReadyStudy(the_study, record, space, plan.source)


def _worker_options(stored: StudyRecord, given: StudyRecord) -> dict:
    """This search's worker options; checkpoints every the study's epochs unless it says."""
    options = dict(given.worker_options)
    if options.get("checkpoint_every") is None:
        options["checkpoint_every"] = stored.worker_options.get("checkpoint_every")
    return options
