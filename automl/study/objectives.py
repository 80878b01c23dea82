"""What a study optimises: validation accuracy alone, or accuracy against a cost (a Pareto
search: docs/concepts.md, Accuracy against cost). A model's cost is known once it is built,
before its first epoch; only its accuracy is uncertain while it trains.

Reads trials as Optuna's FrozenTrial or a listing's StoredTrial: nothing here imports Optuna.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from automl.errors import ConfigError

ACCURACY = "accuracy"


@dataclass(frozen=True)
class Cost:
    name: str  # as --objective spells it
    measured: str  # the TrialRecord field that holds it (objective.py measures it)
    unit: str


COSTS = {
    "params": Cost("params", "params", "parameters"),
    "flops": Cost("flops", "flops", "FLOPs per image"),
    "latency": Cost("latency", "latency_ms", "ms"),  # batch 1, on the search device
}
EXAMPLE = "--objective=accuracy,params"


@dataclass(frozen=True)
class Objectives:
    """Accuracy (maximised) and, for a Pareto search, one cost (minimised)."""

    cost: str | None = None  # a COSTS name; None: accuracy alone

    @classmethod
    def parse(cls, given: str | Sequence[str] | None) -> Objectives:
        """`"accuracy,params"`, `("accuracy", "params")` or None (accuracy alone); anything
        else is refused in one line naming the choices."""
        if given is None:
            return cls()
        names = given.split(",") if isinstance(given, str) else list(given)
        names = [str(n).strip().lower() for n in names if str(n).strip()]
        shown = ",".join(names) or repr(given)
        for name in names:
            if name != ACCURACY and name not in COSTS:
                raise ConfigError(
                    f"unknown objective {name!r} in --objective={shown}; choose accuracy and "
                    f"at most one of: {', '.join(COSTS)} (e.g. {EXAMPLE})"
                )
        if ACCURACY not in names:
            raise ConfigError(
                f"--objective={shown} leaves out accuracy; it is always one of the two "
                f"(e.g. {EXAMPLE})"
            )
        costs = [n for n in names if n != ACCURACY]
        if len(names) > 2 or len(costs) != len(names) - 1:
            raise ConfigError(
                f"--objective takes accuracy and at most one cost ({', '.join(COSTS)}), got {shown}"
            )
        return cls(costs[0] if costs else None)

    @classmethod
    def stored(cls, names: Sequence[str] | None) -> Objectives:
        """A study record's (studies made before --objective have none: accuracy alone)."""
        return cls.parse(list(names) if names else None)

    @property
    def multi(self) -> bool:
        return self.cost is not None

    @property
    def names(self) -> list[str]:
        """As a study record keeps them."""
        return [ACCURACY] + ([self.cost] if self.cost else [])

    @property
    def directions(self) -> list[str]:
        return ["maximize"] + (["minimize"] if self.cost else [])

    @property
    def measured(self) -> str | None:
        """The TrialRecord field of the cost."""
        return None if self.cost is None else COSTS[self.cost].measured

    @property
    def unit(self) -> str:
        return "" if self.cost is None else COSTS[self.cost].unit

    def __str__(self) -> str:
        return ",".join(self.names)

    def cost_of(self, record: Any) -> float | None:
        """The cost a trial's record (TrialRecord) holds; None if not measured."""
        value = None if self.measured is None else getattr(record, self.measured, None)
        return None if value is None else float(value)

    def show_cost(self, value: float) -> str:
        """`1.23M params`, `45.6M FLOPs`, `3.21 ms`."""
        if self.cost == "latency":
            return f"{value:.2f} ms"
        for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
            if value >= factor:
                return f"{value / factor:.3g}{suffix} {self.cost}"
        return f"{value:g} {self.cost}"


def accuracy_of(trial: Any) -> float | None:
    """A trial's validation accuracy, its first value, in a study of one objective or two
    (a multi-objective FrozenTrial refuses `.value`)."""
    values = trial.values
    return None if not values else float(values[0])
