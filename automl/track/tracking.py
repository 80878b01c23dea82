"""The trackers a process logs to, each call guarded: a tracker that fails (server down, disk
full, a bad URI) is one warning, and is left out for the rest of the process; the trial and the
study go on."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from automl.registry import Registry
from automl.track.base import COMPLETED, Run, RunStart, StudyInfo, Tracker

log = logging.getLogger(__name__)
T = TypeVar("T")

TRACKERS: Registry[type[Tracker]] = Registry("tracker")


def register_tracker(cls: type[Tracker]) -> type[Tracker]:
    return TRACKERS.register(cls.name)(cls)


def create_tracker(name: str, study: StudyInfo) -> Tracker:
    _load(name)
    return TRACKERS.get(name)(study)


def list_trackers() -> list[str]:
    from automl.track.names import NEEDS

    return list(NEEDS)


def _load(name: str) -> None:
    """Its module registers a tracker: imported only when asked for (each is heavy)."""
    import importlib

    if name not in TRACKERS:
        from automl.track.names import NEEDS

        if name in NEEDS:
            importlib.import_module(f"automl.track.{name}_tracker")


class Tracking:
    """Every tracker of a study in this process. `Tracking.open(names, study)` makes and opens
    them; an empty one does nothing, so the code that trains calls it unconditionally."""

    def __init__(self, trackers: Iterable[Tracker] = ()) -> None:
        self.trackers = list(trackers)
        self.failed: set[str] = set()

    @classmethod
    def open(cls, names: Iterable[str], study: StudyInfo) -> Tracking:
        tracking = cls()
        for name in names:
            tracker = tracking.guarded(name, "start", lambda n=name: create_tracker(n, study))
            if tracker is not None and tracking.guarded(name, "start", tracker.open, ok=True):
                tracking.trackers.append(tracker)
        return tracking

    def __bool__(self) -> bool:
        return bool(self.live())

    def live(self) -> list[Tracker]:
        return [t for t in self.trackers if t.name not in self.failed]

    def where(self) -> list[str]:
        return [t.where() for t in self.live()]

    def guarded(
        self, name: str, what: str, call: Callable[[], T], ok: Any = None
    ) -> T | Any | None:
        """`call()` (its result, or `ok` when it returns None); a failure is one warning and
        leaves tracker `name` out from now on."""
        if name in self.failed:
            return None
        try:
            result = call()
        except Exception as exc:  # a tracker must never break a search
            self.failed.add(name)
            text = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            log.warning(
                "%s tracking failed (%s: %s); automl goes on without %s in this process",
                name, what, text, name,
            )  # fmt: skip
            return None
        return ok if result is None else result

    def start(self, run: RunStart) -> TrackedRun:
        runs = {}
        for tracker in self.live():
            started = self.guarded(tracker.name, f"{run.title}", lambda t=tracker: t.start(run))
            if started is not None:
                runs[tracker.name] = started
        return TrackedRun(self, run, runs)

    def study_files(self, paths: list[Path]) -> None:
        for tracker in self.live():
            self.guarded(tracker.name, "the report", lambda t=tracker: t.study_files(paths))

    def finish(self) -> None:
        for tracker in self.live():
            self.guarded(tracker.name, "finish", tracker.finish)


class TrackedRun:
    """One run in every tracker: what `Tracking.start` gives; each call guarded."""

    def __init__(self, tracking: Tracking, start: RunStart, runs: dict[str, Run]) -> None:
        self.tracking, self.start, self.runs = tracking, start, runs
        self.ended = False

    @property
    def ids(self) -> dict[str, str]:
        """tracker name -> run id, kept in the trial's record (a retry names them)."""
        return {name: run.id for name, run in self.runs.items()}

    def _each(self, what: str, call: Callable[[Run], None]) -> None:
        for name, run in self.runs.items():
            self.tracking.guarded(name, f"{self.start.title}: {what}", lambda r=run: call(r))

    def epoch(self, step: int, metrics: dict[str, float]) -> None:
        self._each(f"epoch {step}", lambda r: r.epoch(step, metrics))

    def summary(self, values: dict[str, Any]) -> None:
        self._each("summary", lambda r: r.summary(values))

    def files(self, paths: list[Path]) -> None:
        self._each("files", lambda r: r.files(paths))

    def end(self, state: str = COMPLETED, reason: str = "") -> None:
        if not self.ended:
            self.ended = True
            self._each("end", lambda r: r.end(state, reason))
