"""What every tracker does: a run per trial grouped under its study, and the study's own files.

A tracker (MLflow, W&B, TensorBoard) is made once per process for one study; `start` opens a
run, whose `epoch`, `summary`, `files` and `end` log to it. The library never calls them
directly: `automl.track.tracking.Tracking` does, and turns any failure into one warning.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

COMPLETED, PRUNED, FAILED = "completed", "pruned", "failed"  # how a run ends


@dataclass(frozen=True)
class StudyInfo:
    """The study a tracker's runs belong to. `folder`: studies/<study>, where a local store
    goes; `tags`: what the study was made with (space, data, epochs, ...)."""

    name: str
    folder: Path
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RunStart:
    """A run about to start: `kind` trial, recheck or finalize; `number` the trial's (or the
    finalize run's); `params` the trial's; `tags` what else names it (the run it retries)."""

    kind: str
    number: int
    params: dict[str, Any]
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return f"{'final' if self.kind == 'finalize' else 'trial'} {self.number}"


class Run(ABC):
    """One run of a tracker; `id` names it in that tracker (kept in the trial's record)."""

    id: str

    @abstractmethod
    def epoch(self, step: int, metrics: dict[str, float]) -> None:
        """The scalars of epoch `step` (1, 2, ...; across folds under --cv)."""

    @abstractmethod
    def summary(self, values: dict[str, Any]) -> None:
        """Values known once: the model's size, the trial's value, the test metrics."""

    @abstractmethod
    def files(self, paths: list[Path]) -> None:
        """Figures and files kept with the run (PNG figures shown as images where it can)."""

    @abstractmethod
    def end(self, state: str, reason: str = "") -> None:
        """COMPLETED, PRUNED or FAILED, with why (pruned and failed runs)."""


class Tracker(ABC):
    """A tracker for one study, in this process (its package and extra: names.NEEDS)."""

    name: ClassVar[str]

    def __init__(self, study: StudyInfo) -> None:
        self.study = study

    @abstractmethod
    def where(self) -> str:
        """The one line that tells the user where to look at the study's runs."""

    @abstractmethod
    def start(self, run: RunStart) -> Run:
        """A new run under the study."""

    @abstractmethod
    def study_files(self, paths: list[Path]) -> None:
        """The report's figures, kept with the study itself."""

    def open(self) -> None:  # noqa: B027 (most trackers have nothing to open)
        """What the study needs once before its runs (MLflow: its parent run)."""

    def finish(self) -> None:  # noqa: B027
        """Before the process ends."""
