"""Device and precision: `auto` is the fastest precision that trains correctly on this machine.

- CUDA: bf16 autocast where the GPU computes it (Ampere and later; no loss scaling needed),
  else fp16 autocast with a GradScaler.
- CPU: bf16 autocast only where the CPU computes bf16 natively *and* one measured conv
  training step confirms it is faster than fp32 (cached per machine); else fp32, because an
  emulated bf16 runs 4-12x slower than fp32 itself.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch

from automl.errors import ConfigError
from automl.train import machine, measure

PRECISIONS = ("auto", "bf16", "fp16", "fp32")
log = logging.getLogger(__name__)


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise ConfigError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} asked for, but CUDA is not available; use --device=cpu")
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"unsupported device {name!r}; use auto, cpu, cuda or cuda:N")
    return device


@dataclass(frozen=True)
class Precision:
    name: str  # bf16 | fp16 | fp32, after resolving "auto"
    device: torch.device
    reason: str = field(default="asked for", compare=False)  # why this one, for logs and trials
    cache_dir: Path | None = field(default=None, compare=False)  # where measurements are kept

    @property
    def dtype(self) -> torch.dtype | None:
        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.name)

    def autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def grad_scaler(self) -> torch.amp.GradScaler:
        return torch.amp.GradScaler(self.device.type, enabled=self.name == "fp16")

    def measurements(self) -> machine.MeasurementCache:
        return machine.measurement_cache(self.cache_dir, self.device)


def check_precision(name: str, device: torch.device) -> None:
    """Refuse a precision that is unknown or that `device` cannot run; measures nothing."""
    if name not in PRECISIONS:
        raise ConfigError(f"unknown precision {name!r}; choose one of: {', '.join(PRECISIONS)}")
    if name == "fp16" and device.type != "cuda":
        raise ConfigError("precision fp16 needs a CUDA device; use bf16 or fp32 on the CPU")


def resolve_precision(
    name: str, device: torch.device, cache_dir: Path | str | None = None
) -> Precision:
    """`name` as asked, or for "auto" the fastest correct one here; `cache_dir` keeps what
    was measured to decide (and the per-model memory formats) for later runs."""
    check_precision(name, device)
    cache = None if cache_dir is None else Path(cache_dir)
    if name != "auto":
        return Precision(name, device, f"--precision {name} asked for", cache)
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return Precision("bf16", device, "this GPU computes bf16 natively", cache)
        return Precision("fp16", device, "this GPU has no native bf16: fp16 + loss scaling", cache)
    chosen, reason = _cpu_auto(device, cache)
    return Precision(chosen, device, reason, cache)


def _cpu_auto(device: torch.device, cache_dir: Path | None) -> tuple[str, str]:
    if not machine.cpu_bf16_native():
        return "fp32", f"this CPU ({machine.cpu_capability()}) has no native bf16"
    cache = machine.measurement_cache(cache_dir, device)
    seconds = cache.get("bf16_step")
    if not _valid_timing(seconds, ("fp32", "bf16")):
        seconds = measure.measure_bf16(device)
        cache.put("bf16_step", seconds)
    fp32_ms, bf16_ms = seconds["fp32"] * 1e3, seconds["bf16"] * 1e3
    measured = f"one conv step {bf16_ms:.1f} ms in bf16 vs {fp32_ms:.1f} ms in fp32"
    if seconds["bf16"] <= measure.MARGIN * seconds["fp32"]:
        return "bf16", f"native bf16 on this CPU, measured faster: {measured}"
    return "fp32", f"native bf16 on this CPU but not faster: {measured}"


def _valid_timing(value, names: tuple[str, ...]) -> bool:
    return isinstance(value, dict) and all(
        isinstance(value.get(n), int | float) and value[n] > 0 for n in names
    )
