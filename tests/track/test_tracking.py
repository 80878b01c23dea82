"""A tracker never breaks a search: whatever fails is one warning, and that tracker is left out
for the rest of the process; the others go on."""

from __future__ import annotations

import logging
from pathlib import Path

from automl.track import COMPLETED, RunStart, StudyInfo, Tracking
from automl.track.base import Run, Tracker


class Noted(Run):
    def __init__(self, log: list, fail_at: str | None) -> None:
        self.id, self.log, self.fail_at = "r1", log, fail_at

    def _do(self, what: str, *args) -> None:
        if what == self.fail_at:
            raise OSError("No space left on device")
        self.log.append((what, *args))

    def epoch(self, step, metrics):
        self._do("epoch", step)

    def summary(self, values):
        self._do("summary")

    def files(self, paths):
        self._do("files")

    def end(self, state, reason=""):
        self._do("end", state)


class Fake(Tracker):
    def __init__(self, name: str, fail_at: str | None = None) -> None:
        super().__init__(StudyInfo("s", Path(".")))
        self.name, self.fail_at, self.log = name, fail_at, []

    def where(self):
        return f"{self.name}: here"

    def start(self, run):
        if self.fail_at == "start":
            raise ConnectionError("server down")
        return Noted(self.log, self.fail_at)

    def study_files(self, paths):
        self.log.append(("study_files",))


def run_two_trials(tracking: Tracking) -> None:
    for number in range(2):
        run = tracking.start(RunStart("trial", number, {"lr": 0.1}))
        for step in (1, 2, 3):
            run.epoch(step, {"val_acc": 0.5})
        run.end(COMPLETED)


def test_a_failing_tracker_is_one_warning_and_the_others_go_on(caplog):
    broken, fine = Fake("broken", fail_at="epoch"), Fake("fine")
    tracking = Tracking([broken, fine])
    with caplog.at_level(logging.WARNING, logger="automl.track"):
        run_two_trials(tracking)
    assert [r.getMessage() for r in caplog.records] == [
        "broken tracking failed (trial 0: epoch 1: No space left on device); automl goes on "
        "without broken in this process"
    ]
    assert broken.log == []  # left out from its first failure on
    assert fine.log.count(("end", COMPLETED)) == 2 and len(fine.log) == 8
    assert tracking.where() == ["fine: here"]


def test_a_tracker_that_cannot_start_a_run_leaves_the_run_untracked(caplog):
    tracking = Tracking([Fake("down", fail_at="start")])
    with caplog.at_level(logging.WARNING, logger="automl.track"):
        run_two_trials(tracking)
    assert len(caplog.records) == 1 and "server down" in caplog.records[0].getMessage()
    assert not tracking


def test_an_empty_tracking_does_nothing():
    tracking = Tracking()
    run = tracking.start(RunStart("trial", 0, {}))
    run.epoch(1, {"val_acc": 1.0})
    run.end()
    assert not tracking and run.ids == {} and tracking.where() == []


def test_a_run_ends_once():
    fake = Fake("f")
    run = Tracking([fake]).start(RunStart("trial", 0, {}))
    run.end()
    run.end()
    assert fake.log == [("end", COMPLETED)]
