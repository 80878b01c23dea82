"""One epoch of training and one pass of evaluation, with every input explicit."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

from automl.errors import TrainingError
from automl.interrupt import raise_if_interrupted
from automl.train.precision import Precision


@dataclass(frozen=True)
class EpochStats:
    loss: float
    accuracy: float
    seconds: float


def train_one_epoch(
    model: nn.Module,
    criterion: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler,
    batches: Iterable,
    precision: Precision,
    scaler: torch.amp.GradScaler,
) -> EpochStats:
    model.train()
    start = time.perf_counter()
    loss_sum = torch.zeros((), device=precision.device)
    correct = torch.zeros((), dtype=torch.long, device=precision.device)
    seen = 0
    for x, y in batches:
        raise_if_interrupted()
        with precision.autocast():
            logits = model(x)
            loss = criterion(logits, y)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        loss_sum += loss.detach().float() * len(y)
        correct += (logits.detach().argmax(1) == y).sum()
        seen += len(y)
    loss = loss_sum.item() / max(seen, 1)
    if not math.isfinite(loss):
        raise TrainingError(f"training loss became {loss}; lower the learning rate")
    return EpochStats(loss, correct.item() / max(seen, 1), time.perf_counter() - start)


@dataclass(frozen=True)
class EvalResult:
    loss: float
    accuracy: float
    predictions: torch.Tensor  # int64 (N,), on the CPU
    probabilities: torch.Tensor  # float32 (N, classes), on the CPU
    seconds: float


@torch.no_grad()
def evaluate(
    model: nn.Module, criterion: nn.Module, batches: Iterable, precision: Precision
) -> EvalResult:
    model.eval()
    start = time.perf_counter()
    loss_sum, seen, correct = 0.0, 0, 0
    probs = []
    for x, y in batches:
        raise_if_interrupted()
        with precision.autocast():
            logits = model(x)
        logits = logits.float()
        loss_sum += criterion(logits, y).item() * len(y)
        correct += (logits.argmax(1) == y).sum().item()
        seen += len(y)
        probs.append(logits.softmax(1).cpu())
    probabilities = torch.cat(probs) if probs else torch.zeros(0, 0)
    return EvalResult(
        loss_sum / max(seen, 1),
        correct / max(seen, 1),
        probabilities.argmax(1) if probs else torch.zeros(0, dtype=torch.long),
        probabilities,
        time.perf_counter() - start,
    )
