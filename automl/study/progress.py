"""What a search reports while it runs, for whoever shows it.

`search(progress=factory)` calls `factory(study_name, total, done)` (`total` None: until the
time is up) and enters the watcher it returns around the trials; the watcher is told after
every epoch of the running trial and when each trial ends. Nothing is shown without one. The
CLI passes `automl.display.TrialPrinter`; decoding reports through `automl.data.progress`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Protocol

import optuna
from optuna.trial import FrozenTrial

from automl.errors import ConfigError


class TrialWatcher(Protocol):
    def __enter__(self) -> TrialWatcher: ...

    def __exit__(self, *exc: object) -> None: ...

    def epoch(self, number: int, epoch: int, epochs: int, row: dict) -> None:
        """Trial `number` finished `epoch` of `epochs`; `row` holds its losses and accuracies."""

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """A trial ended (any state); an optuna callback."""


WatcherFactory = Callable[[str, int | None, int], TrialWatcher]


def check_progress(progress: WatcherFactory | bool | None) -> WatcherFactory | None:
    """None or False: nothing shown; else a watcher factory, such as TrialPrinter."""
    if progress is None or progress is False:
        return None
    if not callable(progress):
        raise ConfigError(
            "progress must be None or a watcher factory such as "
            f"automl.display.TrialPrinter, got {progress!r}"
        )
    return progress


def watching(factory: WatcherFactory | None, study: optuna.Study, total: int | None, done: int):
    """The watcher of this run, entered around its trials, or a context that shows nothing."""
    factory = check_progress(factory)
    if factory is None:
        return contextlib.nullcontext(None)
    return factory(study.study_name, total, done)
