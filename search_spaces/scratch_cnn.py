"""5-block CNN from scratch: filter organisation, activation, batch norm, dropout, augmentation."""

from __future__ import annotations

import optuna

from automl import DataConfig, OptimConfig, TrialConfig, register_space
from automl.models.scratch_cnn import ScratchCNNConfig

GRID = {  # --sampler grid: the architecture choices, everything else at sensible values
    "base_filters": [32],
    "filter_org": ["same", "double", "half"],
    "kernel_size": [3],
    "activation": ["relu", "gelu", "mish"],
    "batch_norm": [True, False],
    "dropout": [0.2],
    "dense_units": [128],
    "optimizer": ["adamw"],
    "lr": [1e-3],
    "weight_decay": [1e-4],
    "batch_size": [64],
    "resolution": [32, 64],
    "augment": ["none", "basic"],
}


_GOOD = {  # the seeds' best W&B sweep configuration: 32 filters, BN, dropout 0.2-0.3, AdamW
    "base_filters": 32,
    "kernel_size": 3,
    "batch_norm": True,
    "dense_units": 128,
    "optimizer": "adamw",
    "weight_decay": 1e-4,
    "resolution": 64,
    "batch_size": 64,
}
PORTFOLIO = [  # a new study runs these first (--no-portfolio skips them)
    {**_GOOD, "filter_org": "same", "activation": "gelu", "dropout": 0.2, "lr": 2e-3,
     "augment": "basic"},
    {**_GOOD, "filter_org": "double", "activation": "silu", "dropout": 0.3, "lr": 1e-3,
     "augment": "basic"},
    {**_GOOD, "filter_org": "same", "activation": "mish", "dropout": 0.2, "lr": 3e-3,
     "augment": "none"},
]  # fmt: skip


@register_space("scratch_cnn", grid=GRID, portfolio=PORTFOLIO)
def scratch_cnn(trial: optuna.trial.BaseTrial) -> TrialConfig:
    """5 x [conv -> (BN) -> activation -> max-pool], dense -> dropout -> output."""
    model = ScratchCNNConfig(
        base_filters=trial.suggest_categorical("base_filters", [16, 32, 64]),
        filter_org=trial.suggest_categorical("filter_org", ["same", "double", "half"]),
        kernel_size=trial.suggest_categorical("kernel_size", [3, 5]),
        activation=trial.suggest_categorical(
            "activation", ["relu", "gelu", "silu", "mish", "leaky_relu"]
        ),
        batch_norm=trial.suggest_categorical("batch_norm", [True, False]),
        dropout=trial.suggest_float("dropout", 0.0, 0.5, step=0.1),
        dense_units=trial.suggest_categorical("dense_units", [64, 128, 256, 512]),
    )
    optimizer = trial.suggest_categorical("optimizer", ["adamw", "sgd"])
    optim = OptimConfig(
        name=optimizer,
        lr=trial.suggest_float("lr", 1e-4, 3e-2, log=True),
        weight_decay=trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True),
        momentum=trial.suggest_float("momentum", 0.8, 0.98) if optimizer == "sgd" else 0.9,
    )
    data = DataConfig(
        resolution=trial.suggest_int("resolution", 32, 128, step=32),
        batch_size=trial.suggest_categorical("batch_size", [32, 64, 128]),
        augment=trial.suggest_categorical("augment", ["none", "basic", "strong"]),
    )
    return TrialConfig(model=model, optim=optim, data=data)
