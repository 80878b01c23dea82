"""`automl search`: create or resume a study and run trials until it has enough."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from automl.data import DataSource, open_source, stratified_split
from automl.errors import ConfigError, StudyError
from automl.spaces import Space, get_space
from automl.study.objective import Objective
from automl.study.samplers import create_pruner, create_sampler
from automl.study.storage import default_storage, fail_stale_trials, open_storage
from automl.train.precision import resolve_device, resolve_precision

log = logging.getLogger(__name__)

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
DEFAULT_EPOCHS = 10
DEFAULT_SEED = 0
VAL_FRACTION = 0.2
# Settings a resumed study must keep: changing them would mix incomparable trials.
FROZEN_SETTINGS = ("space", "data_fingerprint", "epochs", "seed", "resolution")


def count_finished(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=FINISHED))


def _study_settings(
    space: Space,
    source: DataSource,
    epochs: int,
    seed: int,
    resolution: int | None,
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
        "resolution": resolution,
        "sampler": sampler,
        "pruner": pruner,
    }


def _fixed_params(
    space: Space, source: DataSource, resolution: int | None, params: dict[str, Any]
) -> dict[str, Any]:
    if resolution is None:
        resolution = source.default_resolution
        if resolution is None or "resolution" not in params:
            return {}
    if "resolution" not in params:
        raise ConfigError(f"space {space.name!r} does not search 'resolution'; drop --resolution")
    return {"resolution": resolution}


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
    studies_dir: str | Path = "studies",
    progress: bool = False,
    heartbeat_interval: int = 10,
) -> optuna.Study:
    """Run (or resume) a study until it has `trials` finished (completed or pruned) trials.

    `epochs`, `seed` and `resolution` left as None take the study's stored values on resume.
    """
    if trials < 1:
        raise ConfigError(f"--trials must be at least 1, got {trials}")
    if epochs is not None and epochs < 1:
        raise ConfigError(f"--epochs must be at least 1, got {epochs}")
    the_space = get_space(space)
    amp = resolve_precision(precision, resolve_device(device))
    source = open_source(data, test_dir)
    sample, params = the_space.sample()
    fixed = _fixed_params(the_space, source, resolution, params)
    # Build both once before touching the storage, so a bad name leaves no empty study behind.
    create_sampler(sampler, seed or DEFAULT_SEED, the_space.grid, fixed)
    create_pruner(pruner, epochs or DEFAULT_EPOCHS)
    study_name = study or the_space.name
    cache_dir = Path(studies_dir) / "cache"

    the_study = optuna.create_study(
        study_name=study_name,
        direction="maximize",
        load_if_exists=True,
        storage=open_storage(
            storage or default_storage(study_name, studies_dir),
            heartbeat_interval=heartbeat_interval,
        ),
    )
    asked = {"epochs": epochs, "seed": seed, "resolution": resolution}
    settings = _study_settings(
        the_space,
        source,
        epochs or DEFAULT_EPOCHS,
        DEFAULT_SEED if seed is None else seed,
        fixed.get("resolution"),
        sampler,
        pruner,
    )
    stored = the_study.user_attrs
    if "space" in stored:
        _check_resume(study_name, stored, settings, asked)
        if stored["resolution"] is not None:
            fixed = {"resolution": stored["resolution"]}
    else:
        pool = source.train_pool(fixed.get("resolution", sample.data.resolution), cache_dir)
        _, val_idx = stratified_split(pool.labels.numpy(), VAL_FRACTION, settings["split_seed"])
        for key, value in settings.items():
            the_study.set_user_attr(key, value)
        the_study.set_user_attr("val_indices", [int(i) for i in val_idx])
        stored = the_study.user_attrs
    if fixed and resolution is None:
        log.info(
            "%s: resolution fixed at %d px (pass --resolution to change)",
            source.name,
            fixed["resolution"],
        )
    the_study.sampler = create_sampler(sampler, stored["seed"], the_space.grid, fixed)
    the_study.pruner = create_pruner(pruner, stored["epochs"])

    done = count_finished(the_study)
    if done >= trials:
        log.info("study %s already has %d finished trials (asked for %d)", study_name, done, trials)
        return the_study
    if done:
        log.info("resuming study %s: %d of %d trials finished", study_name, done, trials)
    objective = Objective(
        the_space,
        source,
        stored["val_indices"],
        epochs=stored["epochs"],
        precision=amp,
        seed=stored["seed"],
        cache_dir=cache_dir,
    )
    callbacks = [optuna.study.MaxTrialsCallback(trials, states=FINISHED)]
    with _progress(progress, the_study, trials, done) as printer:
        if printer is not None:
            callbacks.append(printer)
        the_study.optimize(
            objective,
            n_trials=trials - done,
            timeout=timeout,
            callbacks=callbacks,
            catch=(_out_of_memory(),),
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


def _out_of_memory() -> type[Exception]:
    import torch

    return torch.OutOfMemoryError


def _progress(enabled: bool, study: optuna.Study, total: int, done: int):
    import contextlib

    if not enabled:
        return contextlib.nullcontext(None)
    from automl.study.progress import TrialPrinter

    return TrialPrinter(study.study_name, total, done)
