"""Create the study, or resume it: safe when several processes do it at the same moment."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import optuna

from automl.errors import SpaceError
from automl.settings import Workspace
from automl.spaces import Space
from automl.study.check import Plan
from automl.study.datacheck import check_study_data
from automl.study.folds import fold_rows
from automl.study.limits import Limits
from automl.study.portfolio import enqueue_portfolio, portfolio_trials
from automl.study.record import StudyRecord, wait_for_record
from automl.study.split import decode_base, training_pool, validation_rows
from automl.study.storage import open_storage
from automl.study.weights import check_pins, settle_backbones

log = logging.getLogger(__name__)


def create_or_resume(
    plan: Plan, workspace: Workspace, heartbeat_interval: int | None
) -> tuple[optuna.Study, StudyRecord]:
    """The study and its record. Idempotent, and safe when several processes run it at the
    same moment: one creates the study and writes the record, the others wait and read it."""
    rdb = open_storage(plan.storage, heartbeat_interval=heartbeat_interval)
    cache_dir = workspace.paths.cache
    existing = plan.study_name in optuna.get_all_study_names(rdb)
    if not existing:  # weights, decode and split first: a failure leaves no half-made study
        record = _new_record(plan, cache_dir)
    try:
        the_study = optuna.create_study(
            study_name=plan.study_name, direction="maximize", storage=rdb
        )
        created = True
    except optuna.exceptions.DuplicatedStudyError:  # another process created it meanwhile
        the_study = optuna.load_study(study_name=plan.study_name, storage=rdb)
        created = False
    stored = None if created else StudyRecord.from_attrs(the_study.user_attrs)
    if stored is None and not created and not the_study.get_trials(deepcopy=False):
        log.info("waiting for the process that created study %s to record it", plan.study_name)
        stored = wait_for_record(the_study)  # another process is writing it, or died doing so
    if stored is None:  # ours, made by hand, or by a run killed before its record was written
        if existing:
            record = _new_record(plan, cache_dir)
        if plan.portfolio and not the_study.get_trials(deepcopy=False):
            trials = portfolio_trials(plan.space.with_choices(record.choices), record.fixed)
            trials = trials[: record.trials]  # a short study runs no more than it asked for
            record = dataclasses.replace(record, portfolio=enqueue_portfolio(the_study, trials))
        record.write(the_study)
        return the_study, record
    stored.check_same(plan.record, plan.study_name, set(plan.given))
    edited = plan.record.space_file_hash != stored.space_file_hash
    if edited and None not in (stored.space_file_hash, plan.record.space_file_hash):
        check_space_edit(the_study, plan.space.with_choices(stored.choices), stored.space_file)
    # New pins replace the study's; without --fix the stored ones stay, with today's added.
    pins = {**stored.fixed, **plan.record.fixed}
    if plan.options.fix is not None:
        pins = dict(plan.record.fixed)
    if stored.resolution is not None:
        pins["resolution"] = stored.resolution
    check_pins(stored.choices, pins, plan.study_name, plan.space.choices)
    limits = Limits.from_dict(stored.limits).replaced_by(plan.options.limits)
    return the_study, stored.update(
        the_study,
        space_file_hash=plan.record.space_file_hash,
        trials=plan.record.trials,
        fixed=pins,
        limits=limits.to_dict(),
        sampler=plan.record.sampler,  # not frozen: a rerun may switch them
        pruner=plan.record.pruner,
        worker_options=plan.record.worker_options,
    )


def check_space_edit(study: optuna.Study, space: Space, file: str) -> None:
    """The study's space file changed since its trials ran: a change Optuna cannot mix into
    one study (a categorical's choices, a param's kind) is refused before any trial runs;
    anything else (a numeric range, a new param) goes on with one warning."""
    now = space.explore()
    before: dict[str, optuna.distributions.BaseDistribution] = {}
    for trial in study.get_trials(deepcopy=False):
        before.update(trial.distributions)
    for name in sorted(set(now) & set(before)):
        old, new = before[name], now[name]
        try:
            optuna.distributions.check_distribution_compatibility(old, new)
        except ValueError:  # what Optuna would refuse at every trial from now on
            if isinstance(old, optuna.distributions.CategoricalDistribution) and isinstance(
                new, optuna.distributions.CategoricalDistribution
            ):
                what = (
                    f"now chooses from [{', '.join(map(str, new.choices))}], its trials from "
                    f"[{', '.join(map(str, old.choices))}]"
                )
            else:
                what = f"is now {_kind(new)}, its trials drew it as {_kind(old)}"
            raise SpaceError(
                f"{file} changed since study {study.study_name!r} ran: {name} {what} (one "
                "study cannot mix the two); undo the edit or pick a new --study name"
            ) from None
    log.warning(
        "%s changed since study %s last ran; its trials go on with the edit", file, study.study_name
    )


def _kind(dist: optuna.distributions.BaseDistribution) -> str:
    kind = {
        "CategoricalDistribution": "a categorical",
        "IntDistribution": "an int",
        "FloatDistribution": "a float",
    }.get(type(dist).__name__, type(dist).__name__)
    return kind + (" on a log scale" if getattr(dist, "log", False) else "")


def _new_record(plan: Plan, cache_dir: Path) -> StudyRecord:
    """The record of a study about to be made: its backbones' weights settled (downloaded
    unless offline), its images decoded and split."""
    r = plan.record
    base = decode_base(plan.space, r.fixed)  # the data check first: it refuses unusable folders
    data_check, excluded = check_study_data(plan.source, plan.resolution, r.dedupe, cache_dir, base)
    settled = settle_backbones(plan.space, r.fixed, r.model_options, plan.options.offline)
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
