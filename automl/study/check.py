"""Every check a search makes before it touches the storage: a refusal leaves nothing.
A rerun's study is only read, for what the command leaves out."""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from automl.config import TrialConfig, with_model_options
from automl.data import DataSource, open_source
from automl.errors import ConfigError
from automl.io import file_sha256
from automl.models import create_model
from automl.models.interface import check_weights, without_weights
from automl.settings import (
    DEFAULT_EPOCHS,
    DEFAULT_SEED,
    DEFAULT_SPACE,
    Machine,
    SearchOptions,
    Workspace,
)
from automl.spaces import Space, as_choice, check_pin, describe, get_space
from automl.study.datacheck import check_study_data
from automl.study.portfolio import portfolio_trials
from automl.study.record import StudyRecord
from automl.study.samplers import create_pruner, create_sampler
from automl.study.storage import open_storage, sqlite_path
from automl.train.precision import check_precision, resolve_device


@dataclass(frozen=True)
class Plan:
    """What `prepare` checked: everything needed to create the study and run its workers."""

    space: Space
    source: DataSource
    study_name: str
    storage: str
    record: StudyRecord  # as this command would create it (val_indices filled in on creation)
    given: frozenset[str]  # frozen settings given on this command line (others: stored ones)
    options: SearchOptions
    resolution: int  # the resolution the split is decoded at
    portfolio: bool = True  # enqueue the space's known-good trials in a new study
    outside: tuple[str, ...] = ()  # pins outside the space's values: warned of once it runs


def prepare(options: SearchOptions, workspace: Workspace, machine: Machine) -> Plan:
    """Every check a search makes before it touches the storage: a refusal leaves nothing."""
    o = options
    check_precision(machine.precision, resolve_device(machine.device))
    the_space = get_space(o.space)
    source = open_source(o.data, o.test_dir)
    pins, widened, outside = _fixed_params(the_space, source, o.resolution, o.fix or {})
    the_space = the_space.with_choices(widened) if widened else the_space
    sample, _ = the_space.sample(fixed=pins)  # validates the pins through the space
    model_options = _model_options(sample, o.weights, o.pretrained)
    cfg = with_model_options(sample, model_options)
    info = source.describe()
    if widened:  # a value outside the space's choices: refused now if the model cannot take it
        create_model(
            without_weights(cfg.model),
            num_classes=len(info["classes"]),
            in_chans=info["channels"],
            resolution=cfg.data.resolution,
        )
    if the_space.backbone_param is None:  # a backbone space's weights are settled when its
        check_weights(cfg.model)  # study is made (weights.py)
    the_seed = DEFAULT_SEED if o.seed is None else o.seed
    create_sampler(o.sampler, the_seed, the_space.grid, pins)  # a bad name fails here
    create_pruner(o.pruner, o.epochs or DEFAULT_EPOCHS)
    portfolio = o.portfolio and o.sampler != "grid"  # a grid is its own order
    if portfolio:
        portfolio_trials(the_space, pins)  # a bad entry fails here
    study_name = o.study or the_space.name
    record = StudyRecord(
        space=the_space.name,
        space_file=the_space.file,
        space_file_hash=None if the_space.file is None else file_sha256(Path(the_space.file)),
        data=info["data"],
        test_dir=info["test_dir"],
        data_fingerprint=info["fingerprint"],
        test_fingerprint=info["test_fingerprint"],
        train_files=info["train_files"],
        test_files=source.held_out_count(),
        classes=list(info["classes"]),
        channels=info["channels"],
        epochs=o.epochs or DEFAULT_EPOCHS,
        seed=the_seed,
        split_seed=the_seed,
        val_indices=[],
        resolution=pins.get("resolution"),
        fixed=pins,
        model_options=model_options,
        sampler=o.sampler,
        pruner=o.pruner,
        trials=o.target,
        limits=o.limits.to_dict(),
        dedupe=o.dedupe,
        cv=o.cv,
        worker_options=o.worker_options().to_dict(),
    )
    if o.dedupe and source.test_dir is None:
        check_study_data(source, 0, o.dedupe, workspace.paths.cache)  # the one-line refusal
    given = {
        "epochs": o.epochs,
        "seed": o.seed,
        "resolution": o.resolution,
        "dedupe": o.dedupe or None,
        "model_options": model_options or None,
        "cv": o.cv,
    }
    return Plan(
        the_space,
        source,
        study_name,
        workspace.storage_for(study_name),
        record,
        frozenset(StudyRecord.FROZEN) - {k for k, v in given.items() if v is None},
        options,
        pins.get("resolution", sample.data.resolution),
        portfolio,
        outside,
    )


def _fixed_params(
    space: Space, source: DataSource, resolution: int | None, fix: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, list[Any]], tuple[str, ...]]:
    """Params pinned for every trial (--fix NAME=VALUE, --resolution, the data's own default);
    the categoricals widened to take a pinned value outside their choices; a warning for each
    pin given outside the space's range or choices. A value of the wrong kind, or a name the
    space does not have, is refused."""
    fixed = dict(fix)
    if resolution is not None:
        fixed["resolution"] = resolution
    if not fixed and source.default_resolution is None:
        return {}, {}, ()
    known = space.explore()
    if "resolution" not in fixed and "resolution" in known and source.default_resolution:
        fixed["resolution"] = source.default_resolution
    widened: dict[str, list[Any]] = {}
    outside: list[str] = []
    for name, value in fixed.items():
        if name not in known:
            raise ConfigError(
                f"space {space.name!r} has no param {name!r} to fix; its params: "
                + ", ".join(sorted(known))
            )
        dist = known[name]
        if isinstance(value, numbers.Number) and hasattr(value, "item"):
            value = value.item()  # a numpy scalar, stored as Python's own
        fixed[name] = value = as_choice(value, dist)
        if not check_pin(space.name, name, value, dist):
            continue
        if isinstance(dist, optuna.distributions.CategoricalDistribution):
            widened[name] = [*dist.choices, value]  # Optuna samples only a declared choice
        if name in fix or (name == "resolution" and resolution is not None):
            outside.append(
                f"{name}={value!r} is outside what space {space.name} declares "
                f"({describe(dist)[1]}); its trials use it anyway"
            )
    return fixed, widened, tuple(outside)


def _model_options(
    sample: TrialConfig, weights: str | Path | None, pretrained: bool
) -> dict[str, Any]:
    """--weights / --no-pretrained, for spaces whose model has a pretrained backbone."""
    options: dict[str, Any] = {}
    if weights is not None:
        options["weights"] = str(Path(weights).expanduser().resolve())
    if not pretrained:
        options["pretrained"] = False
    with_model_options(sample, options)  # refuses options the space's model does not have
    return options


def study_defaults(options: SearchOptions, workspace: Workspace) -> SearchOptions:
    """The options with the study named, and what a rerun leaves out (the space, where the
    data is) taken from the study; nothing is created when it does not exist yet."""
    study = options.study or get_space(options.space or DEFAULT_SPACE).name
    space, data, test_dir = options.space, options.data, options.test_dir
    stored = _stored_record(study, workspace.storage_for(study))
    if stored is not None:
        space = space or stored.space_file or stored.space
        data, test_dir = stored.data_location(data, test_dir)
    space = space or DEFAULT_SPACE
    return dataclasses.replace(options, space=space, study=study, data=data, test_dir=test_dir)


def _stored_record(study: str, url: str) -> StudyRecord | None:
    """The record of `study` when it exists in `url` (nothing is created when it does not)."""
    path = sqlite_path(url)
    if path is not None and not path.is_file():
        return None
    rdb = open_storage(url)
    if study not in optuna.get_all_study_names(rdb):
        return None
    return StudyRecord.from_attrs(optuna.load_study(study_name=study, storage=rdb).user_attrs)
