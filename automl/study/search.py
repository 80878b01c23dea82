"""`automl search`: prepare (every check, no storage touched), create or resume the study
(safe when several processes do it at once), then run it with one or more workers."""

from __future__ import annotations

import dataclasses
import logging
import numbers
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from automl.config import TrialConfig, with_model_options
from automl.data import DataSource, open_source, stratified_split
from automl.errors import ConfigError, SpaceError
from automl.io import file_sha256
from automl.models import create_model
from automl.models.interface import check_weights, without_weights
from automl.paths import Paths
from automl.spaces import Space, as_choice, check_pin, describe, get_space
from automl.study.datacheck import check_study_data
from automl.study.limits import Limits
from automl.study.portfolio import enqueue_portfolio, portfolio_trials
from automl.study.progress import WatcherFactory
from automl.study.record import StudyRecord, wait_for_record
from automl.study.samplers import create_pruner, create_sampler
from automl.study.storage import default_storage, open_storage, sqlite_path, storage_for_workers
from automl.study.weights import check_pins, settle_backbones
from automl.study.worker import check_progress, run_worker
from automl.train.machine import with_threads
from automl.train.precision import check_precision, resolve_device

log = logging.getLogger(__name__)

DEFAULT_EPOCHS = 10
DEFAULT_TRIALS = 20
UNTIL_TIMEOUT = sys.maxsize  # a trial target that only --timeout ends
DEFAULT_SEED = 0
DEFAULT_SPACE = "scratch_cnn"
VAL_FRACTION = 0.2


@dataclass(frozen=True)
class Plan:
    """What `prepare` checked: everything needed to create the study and run its workers."""

    space: Space
    source: DataSource
    study_name: str
    storage: str
    record: StudyRecord  # as this command would create it (val_indices filled in on creation)
    given: frozenset[str]  # frozen settings given on this command line (others: stored ones)
    fix_given: bool
    resolution: int  # the resolution the split is decoded at
    offline: bool = False  # never download pretrained weights
    portfolio: bool = True  # enqueue the space's known-good trials in a new study
    limits: Limits = Limits()  # given on this command line (a resume keeps the others)
    outside: tuple[str, ...] = ()  # pins outside the space's values: warned of once it runs


def prepare(
    space: str,
    *,
    data: str | Path | None,
    test_dir: str | Path | None,
    study: str | None,
    storage: str | None,
    trials: int | None,
    epochs: int | None,
    sampler: str,
    pruner: str,
    seed: int | None,
    device: str,
    precision: str,
    resolution: int | None,
    fix: Mapping[str, Any] | None,
    weights: str | Path | None,
    pretrained: bool,
    studies_dir: str | Path,
    offline: bool = False,
    portfolio: bool = True,
    limits: Limits | None = None,
    dedupe: bool = False,
) -> Plan:
    """Every check a search makes before it touches the storage: a refusal leaves nothing."""
    if trials is not None and trials < 1:
        raise ConfigError(f"--trials must be at least 1, got {trials}")
    if epochs is not None and epochs < 1:
        raise ConfigError(f"--epochs must be at least 1, got {epochs}")
    if seed is not None and seed < 0:
        raise ConfigError(f"--seed must be 0 or more, got {seed}")
    check_precision(precision, resolve_device(device))
    the_space = get_space(space)
    source = open_source(data, test_dir)
    fixed, widened, outside = _fixed_params(the_space, source, resolution, fix or {})
    the_space = the_space.with_choices(widened) if widened else the_space
    sample, _ = the_space.sample(fixed=fixed)  # validates the pins through the space
    options = _model_options(sample, weights, pretrained)
    cfg = with_model_options(sample, options)
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
    the_seed = DEFAULT_SEED if seed is None else seed
    create_sampler(sampler, the_seed, the_space.grid, fixed)  # a bad name fails here
    create_pruner(pruner, epochs or DEFAULT_EPOCHS)
    portfolio = portfolio and sampler != "grid"  # a grid is its own order
    if portfolio:
        portfolio_trials(the_space, fixed)  # a bad entry fails here
    study_name = study or the_space.name
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
        epochs=epochs or DEFAULT_EPOCHS,
        seed=the_seed,
        split_seed=the_seed,
        val_indices=[],
        resolution=fixed.get("resolution"),
        fixed=fixed,
        model_options=options,
        sampler=sampler,
        pruner=pruner,
        trials=trials,
        limits=(limits or Limits()).to_dict(),
        dedupe=dedupe,
    )
    if dedupe and source.test_dir is None:
        check_study_data(source, 0, dedupe, Paths(studies_dir).cache)  # the one-line refusal
    given = {
        "epochs": epochs,
        "seed": seed,
        "resolution": resolution,
        "dedupe": dedupe or None,
        "model_options": options or None,
    }
    return Plan(
        the_space,
        source,
        study_name,
        storage or default_storage(study_name, studies_dir),
        record,
        frozenset(StudyRecord.FROZEN) - {k for k, v in given.items() if v is None},
        fix is not None,
        fixed.get("resolution", sample.data.resolution),
        offline,
        portfolio,
        limits or Limits(),
        outside,
    )


def create_or_resume(
    plan: Plan, studies_dir: str | Path, heartbeat_interval: int | None = 10
) -> tuple[optuna.Study, StudyRecord]:
    """The study and its record. Idempotent, and safe when several processes run it at the
    same moment: one creates the study and writes the record, the others wait and read it."""
    rdb = open_storage(plan.storage, heartbeat_interval=heartbeat_interval)
    cache_dir = Paths(studies_dir).cache
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
    fixed = plan.record.fixed if plan.fix_given else {**stored.fixed, **plan.record.fixed}
    if stored.resolution is not None:
        fixed["resolution"] = stored.resolution
    check_pins(stored.choices, fixed, plan.study_name, plan.space.choices)
    limits = Limits.from_dict(stored.limits).replaced_by(plan.limits)
    return the_study, stored.update(
        the_study,
        space_file_hash=plan.record.space_file_hash,
        trials=plan.record.trials,
        fixed=fixed,
        limits=limits.to_dict(),
        sampler=plan.record.sampler,  # not frozen: a rerun may switch them
        pruner=plan.record.pruner,
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
    base = decode_base(plan.space, r.fixed)
    data_check, excluded = check_study_data(plan.source, plan.resolution, r.dedupe, cache_dir, base)
    choices = {
        **plan.space.choices,  # widened by a pin outside them
        **settle_backbones(plan.space, r.fixed, r.model_options, plan.offline),
    }
    pool = plan.source.train_pool(plan.resolution, cache_dir, base)
    kept = np.setdiff1d(np.arange(len(pool.labels)), np.asarray(excluded, dtype=np.int64))
    labels = pool.labels.numpy()[kept]
    _, val_idx = stratified_split(labels, VAL_FRACTION, r.split_seed, classes=r.classes)
    return dataclasses.replace(
        r,
        val_indices=[int(i) for i in kept[val_idx]],
        choices=choices,
        data_check=data_check,
        excluded=excluded,
        decode_base=base,
    )


def decode_base(space: Space, fixed: Mapping[str, Any]) -> int | None:
    """The largest resolution the study's trials can ask for: its images are decoded once
    at it, and every smaller resolution is resized from those."""
    if "resolution" in fixed:
        return int(fixed["resolution"])
    dist = space.explore().get("resolution")
    if isinstance(dist, optuna.distributions.CategoricalDistribution):
        return max(int(c) for c in dist.choices)
    if isinstance(dist, optuna.distributions.IntDistribution):
        return int(dist.high)
    return None


@with_threads
def search(
    space: str | None = None,
    *,
    data: str | Path | None = None,
    test_dir: str | Path | None = None,
    study: str | None = None,
    storage: str | None = None,
    trials: int | None = None,
    timeout: float | None = None,
    epochs: int | None = None,
    sampler: str = "tpe",
    pruner: str = "hyperband",
    seed: int | None = None,
    device: str = "auto",
    precision: str = "auto",
    resolution: int | None = None,
    fix: Mapping[str, Any] | None = None,
    weights: str | Path | None = None,
    pretrained: bool = True,
    studies_dir: str | Path = "studies",
    progress: WatcherFactory | None = None,
    heartbeat_interval: int = 10,
    threads: int | None = None,
    workers: int = 1,
    offline: bool = False,
    portfolio: bool = True,
    limits: Limits | None = None,
    dedupe: bool = False,
) -> optuna.Study:
    """Run (or resume) a study until it has `trials` finished (completed or pruned) trials
    (default 20; with a `timeout` and no `trials`, until the time is up).

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
    image folder) leaves out training photos that have a copy in the held-out folder.
    `progress` shows the search as it runs (automl/study/progress.py): the CLI's display is
    `automl.display.TrialPrinter`; None (or False) shows nothing but log lines.
    """
    started = time.perf_counter()  # the start-up its first trial records
    progress = check_progress(progress)
    if not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"--workers must be a whole number of at least 1, got {workers!r}")
    if timeout is not None and timeout <= 0:
        raise ConfigError(f"--timeout must be a positive number of seconds, got {timeout}")
    if trials is None and timeout is None:
        trials = DEFAULT_TRIALS
    study = study or get_space(space or DEFAULT_SPACE).name
    stored = _stored_record(study, storage or default_storage(study, studies_dir))
    if stored is not None:  # a rerun: what it leaves out comes from the study
        space = space or stored.space_file or stored.space
        data, test_dir = stored.data_location(data, test_dir)
    plan = prepare(
        space or DEFAULT_SPACE,
        data=data,
        test_dir=test_dir,
        study=study,
        storage=storage,
        trials=trials,
        epochs=epochs,
        sampler=sampler,
        pruner=pruner,
        seed=seed,
        device=device,
        precision=precision,
        resolution=resolution,
        fix=fix,
        weights=weights,
        pretrained=pretrained,
        studies_dir=studies_dir,
        offline=offline,
        portfolio=portfolio,
        limits=limits,
        dedupe=dedupe,
    )
    if workers > 1:
        storage_for_workers(plan.storage, workers)  # refuses in-memory, warns on SQLite
    the_study, record = create_or_resume(plan, studies_dir, heartbeat_interval)
    for warning in plan.outside:
        log.warning(warning)
    if resolution is None and "resolution" in record.fixed and plan.source.default_resolution:
        log.info(
            "%s: resolution fixed at %d px (pass --resolution to change)",
            plan.source.name,
            record.fixed["resolution"],
        )
    if workers == 1:
        return run_worker(
            the_study,
            record,
            space=plan.space,
            source=plan.source,
            trials=UNTIL_TIMEOUT if trials is None else trials,
            timeout=timeout,
            device=device,
            precision=precision,
            studies_dir=studies_dir,
            progress=progress,
            heartbeat_interval=heartbeat_interval,
            offline=offline,
            started=started,
        )
    from automl.study.pool import run_workers

    run_workers(
        the_study,
        plan.storage,
        workers,
        data=data,
        test_dir=test_dir,
        trials=UNTIL_TIMEOUT if trials is None else trials,
        timeout=timeout,
        device=device,
        precision=precision,
        threads=threads,
        studies_dir=studies_dir,
        progress=progress,
        heartbeat_interval=heartbeat_interval,
        offline=offline,
    )
    return optuna.load_study(study_name=the_study.study_name, storage=the_study._storage)


def _stored_record(study: str, url: str) -> StudyRecord | None:
    """The record of `study` when it exists in `url` (nothing is created when it does not)."""
    path = sqlite_path(url)
    if path is not None and not path.is_file():
        return None
    rdb = open_storage(url)
    if study not in optuna.get_all_study_names(rdb):
        return None
    return StudyRecord.from_attrs(optuna.load_study(study_name=study, storage=rdb).user_attrs)


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
