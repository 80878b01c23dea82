"""The record of a study about to be made: what its data and its backbones decide (the data
check, the weights, the split or the folds), all before the study exists, so that a failure
leaves no half-made study."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from automl.study.check import Plan
from automl.study.datacheck import check_study_data
from automl.study.folds import fold_rows
from automl.study.noise import settled_rechecks
from automl.study.record import StudyRecord
from automl.study.split import training_pool, validation_rows
from automl.study.weights import settle_backbones


def new_record(plan: Plan, cache_dir: Path) -> StudyRecord:
    """The record of a study about to be made: its backbones' weights settled (downloaded
    unless offline), its images decoded and split."""
    r = plan.record
    base = plan.space.max_resolution(r.fixed)  # decoded once at it, smaller ones resized
    backbones = plan.space.backbones(r.fixed, r.model_options)
    # the data check first: it refuses unusable folders
    data_check, excluded = check_study_data(plan.source, plan.resolution, r.dedupe, cache_dir, base)
    settled = settle_backbones(plan.space.backbone_param, backbones, r.fixed, plan.options.offline)
    pool = training_pool(plan.source, plan.resolution, cache_dir, base, excluded)
    made = dataclasses.replace(
        r,
        val_indices=validation_rows(pool, r.split_seed, r.classes),
        folds=fold_rows(pool, r.cv, r.split_seed, r.classes) if r.cv else [],
        choices={**plan.space.choices, **settled},  # widened by a pin outside them
        data_check=data_check,
        excluded=excluded,
        decode_base=base,
    )
    return dataclasses.replace(made, recheck=settled_rechecks(r.recheck, made))
