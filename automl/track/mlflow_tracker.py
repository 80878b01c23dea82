"""MLflow: an experiment per study, a parent run made once per study (however many workers
join it), a child run per trial and per finalize.

The store is MLFLOW_TRACKING_URI when set, else a SQLite file in the study's folder (MLflow 3
refuses its plain-folder store), with the artifacts beside it. Only `MlflowClient` is used:
nothing process-wide (an active run, a tracking URI) is set.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import urllib.request
from pathlib import Path
from typing import Any

from automl.track.base import COMPLETED, FAILED, PRUNED, Run, RunStart, StudyInfo, Tracker
from automl.track.tracking import register_tracker

STATUS = {COMPLETED: "FINISHED", PRUNED: "KILLED", FAILED: "FAILED"}
ROLE, STUDY_ROLE = "automl.role", "study"  # the tag that marks a study's parent run
PROBE_SECONDS = 5.0  # a tracking server that does not answer /health in this long is down
LOCK_SECONDS = 120.0  # the longest wait for another process making the study's store


def store_uri(folder: Path) -> str:
    """The study's own store: MLFLOW_TRACKING_URI when set, else its folder's SQLite file."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(folder / 'mlflow.db').resolve()}"


def probe(uri: str) -> None:
    """A server that is down fails now, in seconds, not after MLflow's minutes of retries."""
    if uri.startswith(("http://", "https://")):
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=PROBE_SECONDS):
            pass


def _text(value: Any) -> str:
    return str(value)[:6000]  # MLflow's longest param value


@register_tracker
class MLflowTracker(Tracker):
    name = "mlflow"

    def __init__(self, study: StudyInfo) -> None:
        super().__init__(study)
        self.uri = store_uri(study.folder)
        self.local = not os.environ.get("MLFLOW_TRACKING_URI")
        self.client: Any = None
        self.experiment_id = ""
        self.parent_id = ""

    def where(self) -> str:
        if self.local:
            return f"MLflow: mlflow ui --backend-store-uri {self.uri}"
        return f"MLflow: experiment {self.study.name!r} at {self.uri}"

    def open(self) -> None:
        from mlflow import MlflowClient

        # its INFO lines on making a new store's tables narrate internals
        logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
        probe(self.uri)
        lock: Any = contextlib.nullcontext()
        if self.local:  # two workers that make a new store's tables at once break it
            from filelock import FileLock  # torch's dependency

            self.study.folder.mkdir(parents=True, exist_ok=True)
            lock = FileLock(self.study.folder / "mlflow.db.lock", timeout=LOCK_SECONDS)
        with lock:
            self.client = MlflowClient(tracking_uri=self.uri)
            self.experiment_id = self._experiment()
            self.parent_id = self._parent()
        if self.client.get_run(self.parent_id).info.status != "RUNNING":  # trials to come
            self.client.update_run(self.parent_id, status="RUNNING")

    def finish(self) -> None:
        """The study's run ends with this process's work (a rerun or worker opens it again)."""
        self.client.set_terminated(self.parent_id, "FINISHED")

    def _experiment(self) -> str:
        found = self.client.get_experiment_by_name(self.study.name)
        if found is not None:
            return found.experiment_id
        where = (self.study.folder / "mlartifacts").resolve().as_uri() if self.local else None
        try:
            return self.client.create_experiment(self.study.name, artifact_location=where)
        except Exception:  # another worker made it a moment ago
            found = self.client.get_experiment_by_name(self.study.name)
            if found is None:
                raise
            return found.experiment_id

    def _parents(self) -> list:
        return self.client.search_runs(
            [self.experiment_id],
            f"tags.`{ROLE}` = '{STUDY_ROLE}'",
            order_by=["attributes.start_time ASC"],
        )

    def _parent(self) -> str:
        """The study's parent run: the earliest one, made here if there is none. Two workers
        that made one at the same moment both keep the earliest; the other is deleted."""
        found = self._parents()
        if found:
            return min(found, key=lambda r: (r.info.start_time, r.info.run_id)).info.run_id
        mine = self.client.create_run(
            self.experiment_id,
            run_name=self.study.name,
            tags={ROLE: STUDY_ROLE, **{f"automl.{k}": v for k, v in self.study.tags.items()}},
        ).info.run_id
        first = min(self._parents(), key=lambda r: (r.info.start_time, r.info.run_id))
        if first.info.run_id != mine:
            self.client.delete_run(mine)
        return first.info.run_id

    def start(self, run: RunStart) -> Run:
        from mlflow.entities import Param

        tags = {
            "mlflow.parentRunId": self.parent_id,
            ROLE: run.kind,
            "automl.study": self.study.name,
            "automl.number": str(run.number),
            **{f"automl.{k}": v for k, v in run.tags.items()},
        }
        created = self.client.create_run(self.experiment_id, run_name=run.title, tags=tags)
        run_id = created.info.run_id
        self._close_retried(run.tags.get("retry_of_mlflow"), run.title)
        params = [Param(k, _text(v)) for k, v in sorted(run.params.items())]
        for i in range(0, len(params), 100):  # log_batch takes at most 100 params
            self.client.log_batch(run_id, params=params[i : i + 100])
        return MLflowRun(self.client, run_id)

    def _close_retried(self, run_id: str | None, by: str) -> None:
        """The run of the trial a retry carries on, left RUNNING by a worker that died."""
        if run_id and self.client.get_run(run_id).info.status == "RUNNING":
            MLflowRun(self.client, run_id).end(FAILED, f"its worker stopped; {by} retries it")

    def study_files(self, paths: list[Path]) -> None:
        for path in paths:
            self.client.log_artifact(self.parent_id, str(path), "report")


class MLflowRun(Run):
    def __init__(self, client: Any, run_id: str) -> None:
        self.client, self.id = client, run_id

    def _metrics(self, values: dict[str, Any], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [
            Metric(k, float(v), now, step)
            for k, v in values.items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        ]
        if metrics:
            self.client.log_batch(self.id, metrics=metrics)

    def epoch(self, step: int, metrics: dict[str, float]) -> None:
        self._metrics(metrics, step)

    def summary(self, values: dict[str, Any]) -> None:
        self._metrics(values, 0)
        from mlflow.entities import RunTag

        words = [RunTag(f"automl.{k}", _text(v)) for k, v in values.items() if isinstance(v, str)]
        if words:
            self.client.log_batch(self.id, tags=words)

    def files(self, paths: list[Path]) -> None:
        for path in paths:
            self.client.log_artifact(self.id, str(path))

    def end(self, state: str, reason: str = "") -> None:
        self.client.set_tag(self.id, "automl.state", state)
        if reason:
            self.client.set_tag(self.id, "automl.reason", reason[:5000])
        self.client.set_terminated(self.id, STATUS[state])
