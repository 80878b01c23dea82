"""Optimizer and LR-schedule tables; schedules step once per batch."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, OneCycleLR

from automl.config import OptimConfig
from automl.registry import choose


def _sgd(params, cfg: OptimConfig) -> torch.optim.Optimizer:
    return torch.optim.SGD(
        params,
        lr=cfg.lr,
        momentum=cfg.momentum,
        nesterov=cfg.nesterov,
        weight_decay=cfg.weight_decay,
    )


OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adamw": lambda params, cfg: torch.optim.AdamW(
        params, lr=cfg.lr, weight_decay=cfg.weight_decay
    ),
    "adam": lambda params, cfg: torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay),
    "sgd": _sgd,
}


def create_optimizer(params: Iterable, cfg: OptimConfig) -> torch.optim.Optimizer:
    return choose(OPTIMIZERS, cfg.name, "optimizer")(params, cfg)


def _warmup_cosine(total: int) -> Callable[[int], float]:
    warmup = max(1, min(total // 20, 500))  # 5% of the steps, linear

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


SCHEDULERS: dict[str, Callable[[torch.optim.Optimizer, int], LRScheduler]] = {
    "cosine": lambda opt, total: LambdaLR(opt, _warmup_cosine(total)),
    "onecycle": lambda opt, total: OneCycleLR(
        opt, max_lr=[g["lr"] for g in opt.param_groups], total_steps=max(total, 2)
    ),
    "step": lambda opt, total: LambdaLR(opt, lambda s: 0.1 ** (3 * s // max(total, 1))),
    "constant": lambda opt, total: LambdaLR(opt, lambda s: 1.0),
}


def create_scheduler(
    optimizer: torch.optim.Optimizer, cfg: OptimConfig, total_steps: int
) -> LRScheduler:
    return choose(SCHEDULERS, cfg.scheduler, "scheduler")(optimizer, total_steps)
