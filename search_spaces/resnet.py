"""ResNet-(6n+2) (He et al. 2016, section 4.2): depth, width, normalisation, optimiser, schedule.

`resnet` builds its norms with torch (batch_instance, which only automl.nn has, with
automl.nn); `resnet_automl` is the same space with every norm from automl.nn. For other mixes
(automl.nn's Conv2d too), a file with `space = make_space(norm_impl=..., conv_impl=...)`.
"""

from __future__ import annotations

import optuna

from automl import DataConfig, OptimConfig, TrialConfig, register_space
from automl.models.resnet import ResNetConfig
from automl.spaces import SpaceFn

NORMS = ["batch", "instance", "batch_instance", "layer", "group", "none"]
LR = {"sgd": (1e-2, 0.3), "adam": (1e-4, 1e-2), "adamw": (1e-4, 1e-2)}  # log-uniform

GRID = {  # --sampler grid: depth x normalisation with the paper's SGD recipe
    "n": [1, 2, 3],
    "width": [1.0],
    "norm": NORMS,
    "groups": [4],
    "optimizer": ["sgd"],
    "momentum": [0.9],
    "nesterov": [False],
    "lr": [0.1],
    "weight_decay": [1e-4],
    "scheduler": ["cosine"],
    "batch_size": [64],
    "resolution": [32],
    "augment": ["basic"],
}


def make_space(norm_impl: str = "torch", conv_impl: str = "torch") -> SpaceFn:
    """The resnet space with norms (and convolutions) from torch or from automl.nn."""

    def space(trial: optuna.trial.BaseTrial) -> TrialConfig:
        norm = trial.suggest_categorical("norm", NORMS)
        model = ResNetConfig(
            n=trial.suggest_int("n", 1, 3),  # depth 8, 14, 20
            width=trial.suggest_categorical("width", [0.5, 1.0, 2.0]),
            norm=norm,
            norm_impl=norm_impl,
            groups=trial.suggest_categorical("groups", [2, 4, 8]) if norm == "group" else 8,
            conv_impl=conv_impl,
        )
        optimizer = trial.suggest_categorical("optimizer", ["sgd", "adam", "adamw"])
        sgd = optimizer == "sgd"
        optim = OptimConfig(
            name=optimizer,
            lr=trial.suggest_float("lr", *LR[optimizer], log=True),
            weight_decay=trial.suggest_float("weight_decay", 1e-5, 5e-3, log=True),
            momentum=trial.suggest_float("momentum", 0.8, 0.95) if sgd else 0.9,
            nesterov=trial.suggest_categorical("nesterov", [False, True]) if sgd else False,
            scheduler=trial.suggest_categorical("scheduler", ["cosine", "step", "onecycle"]),
        )
        data = DataConfig(
            resolution=trial.suggest_int("resolution", 32, 64, step=32),
            batch_size=trial.suggest_categorical("batch_size", [32, 64, 128]),
            augment=trial.suggest_categorical("augment", ["none", "basic", "strong"]),
        )
        return TrialConfig(model=model, optim=optim, data=data)

    return space


@register_space("resnet", grid=GRID)
def resnet(trial: optuna.trial.BaseTrial) -> TrialConfig:
    """ResNet-(6n+2), He et al. 2016: depth, width, norm (torch's), SGD/Adam/AdamW, schedule."""
    return make_space("torch")(trial)


@register_space("resnet_automl", grid=GRID)
def resnet_automl(trial: optuna.trial.BaseTrial) -> TrialConfig:
    """The resnet space with every normalisation layer from automl.nn."""
    return make_space("automl")(trial)
