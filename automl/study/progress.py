"""What a search reports while it runs, for whoever shows it.

`search(progress=factory)` calls `factory(study_name, total, done)` (`total` None: until the
time is up) and enters the watcher it returns around the trials; the watcher is told after
every epoch of the running trial and when each trial ends. Nothing is shown without one. The
CLI passes `automl.display.TrialPrinter`; decoding reports through `automl.data.progress`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import optuna
from optuna.trial import FrozenTrial


class TrialWatcher(Protocol):
    def __enter__(self) -> TrialWatcher: ...

    def __exit__(self, *exc: object) -> None: ...

    def epoch(self, number: int, epoch: int, epochs: int, row: dict) -> None:
        """Trial `number` finished `epoch` of `epochs`; `row` holds its losses and accuracies."""

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """A trial ended (any state); an optuna callback."""


WatcherFactory = Callable[[str, int | None, int], TrialWatcher]
