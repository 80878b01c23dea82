"""`automl search`: create or resume a study and run trials until it has enough."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna
import torch
from optuna.trial import TrialState

from automl.config import TrialConfig, with_model_options
from automl.data import DataSource, open_source, stratified_split
from automl.errors import ConfigError, StudyError
from automl.spaces import Space, get_space
from automl.study.objective import Objective
from automl.study.samplers import create_pruner, create_sampler
from automl.study.storage import default_storage, fail_stale_trials, open_storage
from automl.train.machine import with_threads
from automl.train.precision import resolve_device, resolve_precision

log = logging.getLogger(__name__)

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
DEFAULT_EPOCHS = 10
DEFAULT_SEED = 0
VAL_FRACTION = 0.2
# Settings a resumed study must keep: changing them would mix incomparable trials.
FROZEN_SETTINGS = ("space", "data_fingerprint", "epochs", "seed", "resolution", "model_options")


def count_finished(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=FINISHED))


def _study_settings(
    space: Space,
    source: DataSource,
    epochs: int,
    seed: int,
    fixed: dict[str, Any],
    model_options: dict[str, Any],
    sampler: str,
    pruner: str,
) -> dict[str, Any]:
    info = source.describe()
    return {
        "space": space.name,
        "space_file": space.file,
        "data": info["data"],
        "test_dir": info["test_dir"],
        "data_fingerprint": info["fingerprint"],
        "classes": list(info["classes"]),
        "channels": info["channels"],
        "epochs": epochs,
        "seed": seed,
        "split_seed": seed,
        "resolution": fixed.get("resolution"),
        "fixed": fixed,
        "model_options": model_options,
        "sampler": sampler,
        "pruner": pruner,
    }


def _fixed_params(
    space: Space, source: DataSource, resolution: int | None, fix: Mapping[str, Any]
) -> dict[str, Any]:
    """Params pinned for every trial: --fix NAME=VALUE, --resolution, the data's own default."""
    fixed = dict(fix)
    if resolution is not None:
        fixed["resolution"] = resolution
    if not fixed and source.default_resolution is None:
        return {}
    known = space.explore()
    if "resolution" not in fixed and "resolution" in known and source.default_resolution:
        fixed["resolution"] = source.default_resolution
    for name, value in fixed.items():
        if name not in known:
            raise ConfigError(
                f"space {space.name!r} has no param {name!r} to fix; its params: "
                + ", ".join(sorted(known))
            )
        dist = known[name]
        if isinstance(dist, optuna.distributions.CategoricalDistribution) and (
            value not in dist.choices
        ):
            raise ConfigError(
                f"{name}={value!r} is not a choice of space {space.name!r}; "
                f"choose one of: {', '.join(map(str, dist.choices))}"
            )
    return fixed


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


@with_threads
def search(
    space: str = "scratch_cnn",
    *,
    data: str | Path | None = None,
    test_dir: str | Path | None = None,
    study: str | None = None,
    storage: str | None = None,
    trials: int = 20,
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
    progress: bool = False,
    heartbeat_interval: int = 10,
    threads: int | None = None,
) -> optuna.Study:
    """Run (or resume) a study until it has `trials` finished (completed or pruned) trials.

    `epochs`, `seed` and `resolution` left as None take the study's stored values on resume;
    `fix` pins any of the space's params (`{"backbone": "resnet18"}`) for the trials to come.
    `threads` (torch intra-op threads while it runs) defaults to every core it may use.
    """
    if trials < 1:
        raise ConfigError(f"--trials must be at least 1, got {trials}")
    if epochs is not None and epochs < 1:
        raise ConfigError(f"--epochs must be at least 1, got {epochs}")
    if seed is not None and seed < 0:
        raise ConfigError(f"--seed must be 0 or more, got {seed}")
    the_space = get_space(space)
    cache_dir = Path(studies_dir) / "cache"
    amp = resolve_precision(precision, resolve_device(device), cache_dir)
    source = open_source(data, test_dir)
    fixed = _fixed_params(the_space, source, resolution, fix or {})
    sample, _ = the_space.sample(fixed=fixed)  # validates the pins through the space
    options = _model_options(sample, weights, pretrained)
    check = getattr(with_model_options(sample, options).model, "check", None)
    if check is not None:  # e.g. pretrained weights: missing ones stop us before any study
        check()
    # Build both once before touching the storage, so a bad name leaves no empty study behind.
    create_sampler(sampler, seed or DEFAULT_SEED, the_space.grid, fixed)
    create_pruner(pruner, epochs or DEFAULT_EPOCHS)
    study_name = study or the_space.name

    rdb = open_storage(
        storage or default_storage(study_name, studies_dir), heartbeat_interval=heartbeat_interval
    )
    settings = _study_settings(
        the_space,
        source,
        epochs or DEFAULT_EPOCHS,
        DEFAULT_SEED if seed is None else seed,
        fixed,
        options,
        sampler,
        pruner,
    )
    new_study = study_name not in optuna.get_all_study_names(rdb)
    if new_study:  # decode and split first: a failure here leaves no half-made study behind
        pool = source.train_pool(fixed.get("resolution", sample.data.resolution), cache_dir)
        _, val_idx = stratified_split(pool.labels.numpy(), VAL_FRACTION, settings["split_seed"])
    the_study = optuna.create_study(
        study_name=study_name, direction="maximize", load_if_exists=True, storage=rdb
    )
    stored = the_study.user_attrs
    if "space" in stored:
        _check_resume(
            study_name, stored, settings, {"epochs": epochs, "seed": seed, "resolution": resolution}
        )
        if fix is None:  # keep the study's pins unless new ones are given
            fixed = {**stored.get("fixed", {}), **fixed}
        if stored["resolution"] is not None:
            fixed["resolution"] = stored["resolution"]
        the_study.set_user_attr("fixed", fixed)
    else:
        if not new_study:  # created by hand or by a run killed before its settings were saved
            pool = source.train_pool(fixed.get("resolution", sample.data.resolution), cache_dir)
            _, val_idx = stratified_split(pool.labels.numpy(), VAL_FRACTION, settings["split_seed"])
        the_study.set_user_attr("val_indices", [int(i) for i in val_idx])
        for key, value in settings.items():  # "space" last: it marks the settings complete
            if key != "space":
                the_study.set_user_attr(key, value)
        the_study.set_user_attr("space", settings["space"])
        stored = the_study.user_attrs
    if "resolution" in fixed and resolution is None and source.default_resolution:
        log.info(
            "%s: resolution fixed at %d px (pass --resolution to change)",
            source.name,
            fixed["resolution"],
        )
    # Offset by the trials so far: a resumed run or a second worker must not replay the
    # sampler's sequence from the start.
    sampler_seed = stored["seed"] + len(the_study.trials)
    the_study.sampler = create_sampler(sampler, sampler_seed, the_space.grid, fixed)
    the_study.pruner = create_pruner(pruner, stored["epochs"])

    done = count_finished(the_study)
    if done >= trials:
        log.info("study %s already has %d finished trials (asked for %d)", study_name, done, trials)
        return the_study
    if done:
        log.info("resuming study %s: %d of %d trials finished", study_name, done, trials)
    log.info(
        "training in %s on %s, %d threads: %s",
        amp.name,
        amp.device,
        torch.get_num_threads(),
        amp.reason,
    )
    objective = Objective(
        the_space,
        source,
        stored["val_indices"],
        epochs=stored["epochs"],
        precision=amp,
        seed=stored["seed"],
        cache_dir=cache_dir,
        model_options=stored.get("model_options", {}),
    )
    callbacks = [optuna.study.MaxTrialsCallback(trials, states=FINISHED)]
    with _progress(progress, the_study, trials, done) as printer, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Fixed parameter .* is out of range")
        if printer is not None:
            callbacks.append(printer)
        the_study.optimize(
            objective,
            n_trials=trials - done,
            timeout=timeout,
            callbacks=callbacks,
            catch=(torch.OutOfMemoryError,),
        )
    fail_stale_trials(the_study)
    return the_study


def _check_resume(study_name: str, stored: dict, settings: dict, asked: dict) -> None:
    """A resumed study keeps its space, data and training settings; say which one changed."""
    for key in FROZEN_SETTINGS:
        if key in asked and asked[key] is None:
            continue  # not given on this command line: the stored value stands
        if settings[key] != stored.get(key):
            raise StudyError(
                f"study {study_name!r} was created with {key}={stored.get(key)!r}, not "
                f"{settings[key]!r}; rerun with the same setting or pick a new --study name"
            )


def _progress(enabled: bool, study: optuna.Study, total: int, done: int):
    import contextlib

    if not enabled:
        return contextlib.nullcontext(None)
    from automl.study.progress import TrialPrinter

    return TrialPrinter(study.study_name, total, done)
