"""Device and mixed-precision choice: bf16 autocast on the CPU, fp16 + GradScaler on CUDA."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from automl.errors import ConfigError

PRECISIONS = ("auto", "bf16", "fp16", "fp32")


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise ConfigError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} asked for, but CUDA is not available; use --device cpu")
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"unsupported device {name!r}; use auto, cpu, cuda or cuda:N")
    return device


@dataclass(frozen=True)
class Precision:
    name: str  # bf16 | fp16 | fp32, after resolving "auto"
    device: torch.device

    @property
    def dtype(self) -> torch.dtype | None:
        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.name)

    def autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def grad_scaler(self) -> torch.amp.GradScaler:
        return torch.amp.GradScaler(self.device.type, enabled=self.name == "fp16")


def resolve_precision(name: str, device: torch.device) -> Precision:
    if name not in PRECISIONS:
        raise ConfigError(f"unknown precision {name!r}; choose one of: {', '.join(PRECISIONS)}")
    if name == "auto":
        name = "fp16" if device.type == "cuda" else "bf16"
    if name == "fp16" and device.type != "cuda":
        raise ConfigError("precision fp16 needs a CUDA device; use bf16 or fp32 on the CPU")
    return Precision(name, device)
