"""Weights & Biases: a run per trial (and per finalize, and one for the report) in a group
named after the study.

Offline unless the user is logged in (WANDB_API_KEY, or `wandb login`'s netrc entry) or sets
WANDB_MODE: an offline run is written under the study's folder (or WANDB_DIR) and sent later
with `wandb sync`. Settings go to `wandb.init`, never to the environment.
"""

from __future__ import annotations

import netrc
import os
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from automl.track.base import FAILED, Run, RunStart, StudyInfo, Tracker
from automl.track.tracking import register_tracker

PROJECT = "automl"  # unless WANDB_PROJECT names another


def logged_in() -> bool:
    """Whether W&B has the user's key: WANDB_API_KEY, or a netrc entry for its host."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname
    path = os.environ.get("NETRC") or str(Path.home() / ".netrc")
    try:
        return netrc.netrc(path).authenticators(host or "") is not None
    except (OSError, netrc.NetrcParseError):
        return False


def run_mode() -> str | None:
    """None: WANDB_MODE decides; else online when logged in, offline otherwise."""
    if os.environ.get("WANDB_MODE"):
        return None
    return "online" if logged_in() else "offline"


@register_tracker
class WandbTracker(Tracker):
    name = "wandb"

    def __init__(self, study: StudyInfo) -> None:
        super().__init__(study)
        self.mode = run_mode()
        self.dir = None if os.environ.get("WANDB_DIR") else study.folder
        self.project = os.environ.get("WANDB_PROJECT") or PROJECT

    def where(self) -> str:
        if self.mode == "offline" or os.environ.get("WANDB_MODE") in ("offline", "dryrun"):
            where = self.dir or Path(os.environ.get("WANDB_DIR", "."))
            return f"W&B (offline): wandb sync {where / 'wandb'}/offline-run-*"
        return f"W&B: project {self.project}, group {self.study.name}"

    def _init(self, kind: str, title: str, config: dict[str, Any]) -> Any:
        import wandb

        if self.dir is not None:
            self.dir.mkdir(parents=True, exist_ok=True)
        return wandb.init(
            project=self.project,
            group=self.study.name,
            job_type=kind,
            name=f"{self.study.name} {title}",
            config=config,
            dir=self.dir,
            mode=self.mode,
            reinit="create_new",
            settings=wandb.Settings(
                silent=True,
                console="off",
                disable_git=True,
                save_code=False,
                x_disable_stats=True,
            ),  # fmt: skip
        )

    def start(self, run: RunStart) -> Run:
        config = {**run.params, **{f"automl.{k}": v for k, v in run.tags.items()}}
        config |= {f"automl.{k}": v for k, v in self.study.tags.items()}
        config |= {"automl.kind": run.kind, "automl.number": run.number}
        return WandbRun(self._init(run.kind, run.title, config))

    def finish(self) -> None:
        """W&B's service writes a finished run's file on its own time: flushed here."""
        import wandb

        wandb.teardown()

    def study_files(self, paths: list[Path]) -> None:
        run = WandbRun(self._init("report", "report", dict(self.study.tags)))
        run.files(paths)
        run.end("completed")


class WandbRun(Run):
    def __init__(self, run: Any) -> None:
        self.run, self.id = run, run.id

    def epoch(self, step: int, metrics: dict[str, float]) -> None:
        self.run.log(dict(metrics), step=step)

    def summary(self, values: dict[str, Any]) -> None:
        self.run.summary.update(values)

    def files(self, paths: list[Path]) -> None:
        import wandb

        images = {p.stem: wandb.Image(str(p)) for p in paths if p.suffix == ".png"}
        if images:
            self.run.log(images)
        for path in paths:  # in the run's folder, which W&B sends with the run
            if path.suffix != ".png":
                shutil.copyfile(path, Path(self.run.dir) / path.name)

    def end(self, state: str, reason: str = "") -> None:
        self.run.summary.update({"state": state, **({"reason": reason} if reason else {})})
        self.run.finish(exit_code=1 if state == FAILED else 0)
