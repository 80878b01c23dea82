"""Deployment budgets: a trial whose model is over a limit is pruned before it trains.

Each limit is also an Optuna constraint (`trial.set_constraint`, measured / limit - 1, so
zero or less is feasible) set on every trial, so TPE learns where the feasible models are.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from automl.errors import ConfigError, flag


@dataclass(frozen=True)
class Limit:
    field: str  # Limits attribute
    measured: str  # the trial user attribute it is checked against
    unit: str

    @property
    def option(self) -> str:
        """The command-line option that sets it."""
        return flag(self.field)


LIMITS = (
    Limit("max_params", "params", "parameters"),
    Limit("max_flops", "flops", "FLOPs per image"),
    Limit("max_latency_ms", "latency_ms", "ms"),
)


def _show(value: float, unit: str) -> str:
    if unit == "ms":
        return f"{value:.2f} ms"
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= factor:
            return f"{value / factor:.3g}{suffix} {unit}"
    return f"{value:g} {unit}"


@dataclass(frozen=True)
class Violation:
    limit: Limit
    value: float
    bound: float

    def __str__(self) -> str:
        return (
            f"{_show(self.value, self.limit.unit)} > {self.limit.option} "
            f"{_show(self.bound, self.limit.unit)}"
        )


@dataclass(frozen=True)
class Limits:
    """What a deployed model may cost; None: no limit."""

    max_params: int | None = None
    max_flops: int | None = None
    max_latency_ms: float | None = None  # batch 1, on the search device and precision

    def __post_init__(self) -> None:
        for limit in LIMITS:
            value = getattr(self, limit.field)
            if value is not None and not (
                isinstance(value, int | float) and math.isfinite(value) and value > 0
            ):
                raise ConfigError(f"{limit.option} must be a positive number, got {value!r}")

    def __bool__(self) -> bool:
        return any(getattr(self, limit.field) is not None for limit in LIMITS)

    @property
    def active(self) -> list[tuple[Limit, float]]:
        return [
            (limit, getattr(self, limit.field))
            for limit in LIMITS
            if getattr(self, limit.field) is not None
        ]

    @property
    def needs_latency(self) -> bool:
        return self.max_latency_ms is not None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> Limits:
        return cls(**(values or {}))

    def replaced_by(self, given: Limits) -> Limits:
        """These limits with the ones set in `given` replacing them (a resumed study)."""
        return dataclasses.replace(self, **given.to_dict())

    def constraints(self, measured: dict[str, float]) -> dict[str, float]:
        """Optuna constraint values: measured / limit - 1 for each limit (<= 0: feasible)."""
        return {
            limit.measured: float(measured[limit.measured]) / bound - 1.0
            for limit, bound in self.active
        }

    def violations(self, measured: dict[str, float]) -> list[Violation]:
        return [
            Violation(limit, float(measured[limit.measured]), bound)
            for limit, bound in self.active
            if float(measured[limit.measured]) > bound
        ]

    def describe(self) -> str:
        return ", ".join(f"{limit.option} {_show(b, limit.unit)}" for limit, b in self.active)


_SUFFIXES = {"k": 1e3, "m": 1e6, "g": 1e9}


def parse_count(text: str, option: str) -> int:
    """A count written as 1500000, 1.5M, 300k or 2G (for --max-params / --max-flops)."""
    raw = text.strip()
    factor = _SUFFIXES.get(raw[-1:].lower(), 1.0) if raw else 1.0
    number = raw[:-1] if factor != 1.0 else raw
    try:
        value = float(number) * factor
    except ValueError:
        raise ConfigError(
            f"{option} must be a number such as 2000000, 2M, 500k or 1.5G, got {text!r}"
        ) from None
    if not math.isfinite(value) or value < 1:
        raise ConfigError(f"{option} must be a positive number, got {text!r}")
    return round(value)
