"""Every check a search makes before it touches the storage: a refusal leaves nothing.
A rerun's study is only read, for what the command leaves out."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import optuna

from automl.config import model_options, with_model_options
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
    WorkerOptions,
    Workspace,
)
from automl.spaces import Space, get_space
from automl.study.checkpoints import checked_url
from automl.study.objectives import Objectives
from automl.study.record import StudyRecord
from automl.study.samplers import create_pruner, create_sampler, settled_pruner
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
    run: WorkerOptions = WorkerOptions()  # what its workers run with (the record keeps it)


def prepare(options: SearchOptions, workspace: Workspace, machine: Machine) -> Plan:
    """Every check a search makes before it touches the storage: a refusal leaves nothing.
    What a rerun leaves out is taken from its study (`study_defaults`)."""
    o, the_space = study_defaults(options, workspace)
    check_precision(machine.precision, resolve_device(machine.device))
    source = open_source(o.data, o.test_dir)
    pinned = the_space.pin(o.fix or {}, o.resolution, source.default_resolution)
    the_space, pins = pinned.space, pinned.fixed
    chosen = model_options(o.weights, o.pretrained)  # --weights, --no-pretrained
    cfg = with_model_options(pinned.sample, chosen)  # refuses options the model does not have
    info = source.describe()
    if pinned.widened:  # a value outside the space's choices: refused now if the model cannot
        create_model(  # take it
            without_weights(cfg.model),
            num_classes=len(info["classes"]),
            in_chans=info["channels"],
            resolution=cfg.data.resolution,
        )
    if the_space.backbone_param is None:  # a backbone space's weights are settled when its
        check_weights(cfg.model)  # study is made (weights.py)
    the_seed = DEFAULT_SEED if o.seed is None else o.seed
    objectives = Objectives.parse(o.objective)
    pruner = settled_pruner(o.pruner, o.sampler, objectives)  # one fit for the objectives
    create_sampler(o.sampler, the_seed, the_space.grid, pins)  # a bad name fails here
    create_pruner(pruner, o.epochs or DEFAULT_EPOCHS)
    portfolio = o.portfolio and o.sampler != "grid"  # a grid is its own order
    if portfolio:
        the_space.portfolio_trials(pins)  # a bad entry fails here
    study_name, run = o.study or the_space.name, o.worker_options()
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
        model_options=chosen,
        sampler=o.sampler,
        pruner=pruner,
        trials=o.target,
        limits=o.limits.to_dict(),
        dedupe=o.dedupe,
        cv=o.cv,
        recheck=o.recheck,  # left out: settled with the split (new.py), or the study's
        artifacts=checked_url(o.artifacts),
        worker_options=run.to_dict(),
        objective=objectives.names,
        track=list(o.track or ()),
    )
    if o.dedupe and source.test_dir is None:  # the built-in digits
        raise ConfigError(
            "--dedupe applies to an image folder; the built-in digits have no held-out "
            "folder to compare with: pass --data DIR or drop --dedupe"
        )
    given = {
        "epochs": o.epochs,
        "seed": o.seed,
        "resolution": o.resolution,
        "dedupe": o.dedupe or None,
        "model_options": chosen or None,
        "cv": o.cv,
        "artifacts": o.artifacts,
        "objective": options.objective,  # as given: a rerun leaving it out keeps the study's
    }
    return Plan(
        the_space,
        source,
        study_name,
        workspace.storage_for(study_name),
        record,
        frozenset(StudyRecord.FROZEN) - {k for k, v in given.items() if v is None},
        o,
        pins.get("resolution", pinned.sample.data.resolution),
        portfolio,
        pinned.outside,
        run,
    )


def study_defaults(options: SearchOptions, workspace: Workspace) -> tuple[SearchOptions, Space]:
    """The options with the study named, and what a rerun leaves out (the space, where the
    data is) taken from the study's record; nothing is created when the study does not exist
    yet. The space comes back resolved, loaded once."""
    named = get_space(options.space or DEFAULT_SPACE)
    study = options.study or named.name
    space, data, test_dir = options.space, options.data, options.test_dir
    url = workspace.storage_for(study)
    path, stored = sqlite_path(url), None
    if path is None or path.is_file():  # a study database that exists: only read
        rdb = open_storage(url)
        if study in optuna.get_all_study_names(rdb):
            stored = StudyRecord.from_attrs(
                optuna.load_study(study_name=study, storage=rdb).user_attrs
            )
    objective = options.objective
    if stored is not None:
        space = space or stored.space_file or stored.space
        data, test_dir = stored.data_location(data, test_dir)
        objective = objective or stored.objective
    space = space or DEFAULT_SPACE
    the_space = named if space == (options.space or DEFAULT_SPACE) else get_space(space)
    options = dataclasses.replace(
        options, space=space, study=study, data=data, test_dir=test_dir, objective=objective
    )
    return options, the_space
