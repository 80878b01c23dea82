"""Synthetic finished studies made with plain optuna (no training), with automl's user attrs."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from automl.models.scratch_cnn import ScratchCNNConfig, closed_form_flops, closed_form_params
from automl.study.storage import sqlite_path

CLASSES = [str(d) for d in range(10)]
SPACE = {
    "base_filters": CategoricalDistribution([16, 32, 64]),
    "filter_org": CategoricalDistribution(["same", "double", "half"]),
    "kernel_size": CategoricalDistribution([3, 5]),
    "activation": CategoricalDistribution(["relu", "gelu", "silu", "mish", "leaky_relu"]),
    "batch_norm": CategoricalDistribution([True, False]),
    "dropout": FloatDistribution(0.0, 0.5, step=0.1),
    "dense_units": CategoricalDistribution([64, 128, 256, 512]),
    "optimizer": CategoricalDistribution(["adamw"]),
    "lr": FloatDistribution(1e-4, 3e-2, log=True),
    "weight_decay": FloatDistribution(1e-6, 1e-2, log=True),
    "resolution": IntDistribution(32, 128, step=32),
    "batch_size": CategoricalDistribution([32, 64, 128]),
    "augment": CategoricalDistribution(["none", "basic", "strong"]),
}
ATTRS = {
    "space": "scratch_cnn",
    "space_file": None,
    "data": "digits",
    "test_dir": None,
    "classes": CLASSES,
    "channels": 1,
    "epochs": 4,
    "seed": 0,
    "model_options": {},
}


def sample_params(rng: np.random.Generator) -> dict:
    out = {}
    for name, d in SPACE.items():
        if isinstance(d, CategoricalDistribution):
            out[name] = d.choices[rng.integers(len(d.choices))]
        elif name == "lr" or name == "weight_decay":
            out[name] = float(np.exp(rng.uniform(np.log(d.low), np.log(d.high))))
        elif isinstance(d, IntDistribution):
            out[name] = int(rng.choice(np.arange(d.low, d.high + 1, d.step)))
        else:
            out[name] = round(float(rng.choice(np.arange(0, 0.51, 0.1))), 1)
    return out


def scratch_study(storage: str, name: str, n_trials: int, seed: int = 0) -> optuna.Study:
    """A scratch_cnn-like study: batch_norm and lr matter, the rest is noise; ~1/4 pruned.

    With a SQLite file `storage`, optuna writes the study into an in-memory SQLite database
    and that database is then copied into the file whole (SQLite's backup API): optuna adds a
    trial in one commit of some 40 statements, and on a file each commit waits for the disk
    (1,000 trials: about half the time)."""
    return _written(storage, name, lambda into: _write(into, name, n_trials, seed))


def _written(storage: str | None, name: str, write) -> optuna.Study:
    """The study `write(storage)` makes, written into `storage` (None: in memory); a SQLite
    file gets it whole, as `scratch_study` says."""
    path = None if storage is None else sqlite_path(storage)
    if path is None:
        return write(optuna.storages.RDBStorage(storage) if storage else None)
    memory = optuna.storages.RDBStorage("sqlite:///:memory:")
    write(memory)
    source = memory.engine.raw_connection()
    try:
        with sqlite3.connect(path) as target:
            source.driver_connection.backup(target)
        target.close()
    finally:
        source.close()
        memory.engine.dispose()
    return optuna.load_study(study_name=name, storage=storage)


def _write(
    storage: optuna.storages.RDBStorage, name: str, n_trials: int, seed: int
) -> optuna.Study:
    rng = np.random.default_rng(seed)
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize")
    for key, value in ATTRS.items():
        study.set_user_attr(key, value)
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    trials = []
    for i in range(n_trials):
        p = sample_params(rng)
        final = 0.5 + 0.2 * p["batch_norm"] - 0.05 * abs(np.log10(p["lr"]) + 2.5)
        final = float(np.clip(final + rng.normal(0, 0.03), 0.05, 0.99))
        pruned = rng.random() < 0.25
        epochs = int(rng.integers(1, 4)) if pruned else 4
        curve = {e: final * (0.6 + 0.1 * e) for e in range(1, epochs + 1)}
        cfg = _config(p)
        start = t0 + dt.timedelta(seconds=30 * i)
        trials.append(
            create_trial(
                state=TrialState.PRUNED if pruned else TrialState.COMPLETE,
                value=None if pruned else final,
                params=p,
                distributions=SPACE,
                intermediate_values=curve,
                user_attrs={
                    "trainable_params": closed_form_params(cfg, 1, p["resolution"], 10),
                    "flops": closed_form_flops(cfg, 1, p["resolution"], 10),
                    "epochs_run": epochs,
                    "seed": i,
                },
            )
        )
        trials[-1].datetime_start = start
        trials[-1].datetime_complete = start + dt.timedelta(seconds=25)
    _add_trials(storage, storage.get_study_id_from_name(name), trials)
    return study


def _add_trials(storage: optuna.storages.RDBStorage, study_id: int, trials: list) -> None:
    """The rows `study.add_trials(trials)` writes, in one session: optuna checks each param
    against earlier trials' distributions in queries of its own (most of 1,000 trials' time);
    here every trial has the same ones. Single-objective trials of a new study only."""
    from optuna.distributions import distribution_to_json
    from optuna.storages._rdb import models

    session = storage.scoped_session()
    try:
        for number, t in enumerate(trials):
            row = models.TrialModel(study_id=study_id, number=number, state=t.state)
            row.datetime_start, row.datetime_complete = t.datetime_start, t.datetime_complete
            if t.value is not None:
                value, kind = models.TrialValueModel.value_to_stored_repr(t.value)
                row.values = [models.TrialValueModel(objective=0, value=value, value_type=kind)]
            row.params = [
                models.TrialParamModel(
                    param_name=name,
                    param_value=t.distributions[name].to_internal_repr(value),
                    distribution_json=distribution_to_json(t.distributions[name]),
                )
                for name, value in t.params.items()
            ]
            row.user_attributes = [
                models.TrialUserAttributeModel(key=key, value_json=json.dumps(value))
                for key, value in t.user_attrs.items()
            ]
            for step, x in t.intermediate_values.items():
                v, kind = models.TrialIntermediateValueModel.intermediate_value_to_stored_repr(x)
                row.intermediate_values.append(
                    models.TrialIntermediateValueModel(
                        step=step, intermediate_value=v, intermediate_value_type=kind
                    )
                )
            session.add(row)
        session.commit()
    finally:
        session.close()


def pareto_study(storage: str | None, name: str, n_trials: int = 24, seed: int = 0) -> optuna.Study:
    """A study of accuracy against params, as `automl search --objective accuracy,params`
    makes it: each trial's values are [accuracy, params], its record holds its size and a
    per-epoch history (Optuna takes no reports from a two-objective trial); accuracy grows
    with the model's size and with batch_norm, ~1/5 of the trials are pruned, and the most
    accurate trial is re-checked once. `storage` None: in memory."""
    return _written(storage, name, lambda into: _write_pareto(into, name, n_trials, seed))


def _write_pareto(storage, name: str, n_trials: int, seed: int) -> optuna.Study:
    rng = np.random.default_rng(seed)
    study = optuna.create_study(
        study_name=name, storage=storage, directions=["maximize", "minimize"]
    )
    for key, value in {
        **ATTRS, "objective": ["accuracy", "params"], "pruner": "pareto", "recheck": 1
    }.items():  # fmt: skip
        study.set_user_attr(key, value)
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    trials = []
    for i in range(n_trials):
        p = sample_params(rng)
        cfg = _config(p)
        params = closed_form_params(cfg, 1, p["resolution"], 10)
        final = 0.08 * np.log10(params) + 0.15 * p["batch_norm"] + rng.normal(0, 0.02)
        final = round(float(np.clip(final, 0.05, 0.99)), 4)
        pruned = rng.random() < 0.2
        epochs = int(rng.integers(1, 4)) if pruned else 4
        history = [
            {"epoch": e, "val_acc": final * (0.6 + 0.1 * e), "fold": 1}
            for e in range(1, epochs + 1)
        ]
        trials.append(
            create_trial(
                state=TrialState.PRUNED if pruned else TrialState.COMPLETE,
                values=None if pruned else [final, float(params)],
                params=p,
                distributions=SPACE,
                user_attrs={
                    "params": params,
                    "trainable_params": params,
                    "flops": closed_form_flops(cfg, 1, p["resolution"], 10),
                    "history": history,
                    "epochs_run": epochs,
                    "seed": i,
                },
            )
        )
    best = max((t for t in trials if t.values), key=lambda t: t.values[0])
    number = trials.index(best)
    trials.append(
        create_trial(
            values=[best.values[0] - 0.01, best.values[1]],
            params=best.params,
            distributions=SPACE,
            user_attrs={**best.user_attrs, "recheck_of": number, "seed": len(trials)},
        )
    )
    for i, t in enumerate(trials):
        t.datetime_start = t0 + dt.timedelta(seconds=30 * i)
        t.datetime_complete = t.datetime_start + dt.timedelta(seconds=25)
    study.add_trials(trials)
    return study


def _config(p: dict) -> ScratchCNNConfig:
    """The model config of sampled params `p` (the sizes a trial records come from it)."""
    return ScratchCNNConfig(
        base_filters=p["base_filters"],
        filter_org=p["filter_org"],
        kernel_size=p["kernel_size"],
        activation=p["activation"],
        batch_norm=p["batch_norm"],
        dense_units=p["dense_units"],
    )
