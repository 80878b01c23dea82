"""The settings a command runs with, as a few frozen objects built once at the edge.

The command line builds them from its options, the Python API from keywords; the library
passes them whole. Each default lives here, once (the studies folder's: automl.paths).

    Workspace       where studies live: the studies folder and the storage URL
    Machine         what runs the trials here: device, precision, torch threads
    SearchOptions   what `automl search` is asked to do
    WorkerOptions   what a worker needs beyond the study's record (kept in the record by
                    the last search, so a worker process needs only the study's name, its
                    workspace and its machine)
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from automl.errors import ConfigError
from automl.paths import STUDIES_DIR, Paths
from automl.study.limits import Limits
from automl.study.objectives import Objectives
from automl.track.names import parse_track

HEARTBEAT_SECONDS = 10  # a trial silent for twice that is failed and retried
CHECKPOINT_EVERY = 1  # epochs between a running trial's checkpoints (automl/study/checkpoints.py)
DEFAULT_SPACE = "scratch_cnn"
DEFAULT_TRIALS = 20
DEFAULT_EPOCHS = 10
DEFAULT_SEED = 0
DEFAULT_SAMPLER = "tpe"
DEFAULT_PRUNER = "hyperband"  # a two-objective search's: "pareto" (automl/study/pareto.py)
T = TypeVar("T")


@dataclass(frozen=True)
class Workspace:
    """Where studies live: `studies_dir` holds databases, caches and outputs; `storage` is
    the Optuna storage URL (None: `sqlite:///<studies_dir>/<study>.db`, one file a study)."""

    studies_dir: Path = STUDIES_DIR
    storage: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "studies_dir", Path(self.studies_dir))

    @property
    def paths(self) -> Paths:
        return Paths(self.studies_dir)

    def options(self) -> str:
        """The command-line options that name this workspace (none for the default one)."""
        where = f" --storage {self.storage}" if self.storage else ""
        if self.studies_dir != STUDIES_DIR:
            where += f" --studies-dir {self.studies_dir}"
        return where

    def storage_for(self, study: str) -> str:
        """The storage URL of `study`: the one given, else its own SQLite file."""
        return self.storage or f"sqlite:///{self.paths.database(study)}"


@dataclass(frozen=True)
class Machine:
    """What runs the trials on this machine. `threads`: torch's intra-op threads while a
    command trains (None: OMP_NUM_THREADS, else every usable core)."""

    device: str = "auto"
    precision: str = "auto"
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise ConfigError(
                f"--threads must be a whole number of at least 1, got {self.threads!r}"
            )

    @contextlib.contextmanager
    def threads_set(self) -> Iterator[None]:
        """torch's intra-op threads set for the block, and put back afterwards."""
        from automl.train.machine import default_threads, intra_op_threads

        with intra_op_threads(self.threads or default_threads()):
            yield


@dataclass(frozen=True)
class WorkerOptions:
    """What a worker needs beyond the study's record; None: the study's (what its last
    search gave), else the default. `trials`: finished trials to reach; `timeout`: seconds
    after which no trial starts; `data`/`test_dir`: where the study's images are now."""

    trials: int | None = None
    timeout: float | None = None
    heartbeat_interval: int | None = None
    offline: bool | None = None
    data: str | None = None
    test_dir: str | None = None
    checkpoint_every: int | None = None  # epochs between a trial's checkpoints; 0: none
    track: str | Sequence[str] | None = None  # trackers for this worker; None: the study's

    def __post_init__(self) -> None:
        object.__setattr__(self, "track", parse_track(self.track))
        if self.heartbeat_interval is not None and self.heartbeat_interval < 1:
            raise ConfigError(
                f"--heartbeat-interval must be at least 1 s, got {self.heartbeat_interval}"
            )
        checked_checkpoint_every(self.checkpoint_every)
        for name in ("data", "test_dir"):  # a worker may run in another folder
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, str(Path(value).expanduser().resolve()))

    @property
    def heartbeat(self) -> int:
        return self.heartbeat_interval or HEARTBEAT_SECONDS

    @property
    def checkpoint_interval(self) -> int:
        """Epochs between checkpoints (0: none); over a study's options (`over`), the
        study's when these leave it out."""
        return CHECKPOINT_EVERY if self.checkpoint_every is None else self.checkpoint_every

    def over(self, stored: Mapping[str, Any]) -> WorkerOptions:
        """These options, each one left as None taken from `stored` (a record's)."""
        known = {f.name for f in dataclasses.fields(self)}
        base = {k: v for k, v in stored.items() if k in known}
        given = {k: v for k, v in dataclasses.asdict(self).items() if v is not None}
        return WorkerOptions(**{**base, **given})

    def to_dict(self) -> dict[str, Any]:
        """What the study's record keeps for its workers (its trackers: the record's own)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in ("trials", "track")}


@dataclass(frozen=True)
class SearchOptions:
    """What `automl search` is asked to do (see `automl.search` for each one). Left as None,
    `space`, `data`, `test_dir`, `epochs`, `seed` and `resolution` take a rerun's study's."""

    space: str | None = None
    study: str | None = None
    data: str | Path | None = None
    test_dir: str | Path | None = None
    trials: int | None = None
    timeout: float | None = None
    epochs: int | None = None
    sampler: str = DEFAULT_SAMPLER
    pruner: str | None = None  # None: hyperband, or pareto for two objectives
    seed: int | None = None
    resolution: int | None = None
    fix: Mapping[str, Any] | None = None
    weights: str | Path | None = None
    pretrained: bool = True
    offline: bool = False
    portfolio: bool = True
    limits: Limits = Limits()
    dedupe: bool = False
    workers: int = 1
    heartbeat_interval: int = HEARTBEAT_SECONDS
    cv: int | None = None  # K folds instead of the 80/20 split (automl/study/folds.py)
    recheck: int | None = None  # N best run again; None: 3 on a small split (study/noise.py)
    checkpoint_every: int | None = None  # epochs between checkpoints; 0: none; None: study's
    artifacts: str | Path | None = None  # the study's artifact store (study/checkpoints.py)
    objective: str | Sequence[str] | None = None  # "accuracy,params"; None: accuracy or study's
    track: str | Sequence[str] | None = None  # mlflow, wandb, tensorboard; None: the study's

    def __post_init__(self) -> None:
        object.__setattr__(self, "track", parse_track(self.track))  # installed, or refused now
        if self.objective is not None:  # refused now, in one line, before anything is read
            object.__setattr__(self, "objective", tuple(Objectives.parse(self.objective).names))
        if self.cv is not None and (not isinstance(self.cv, int) or self.cv < 2):
            raise ConfigError(f"--cv must be a whole number of folds, at least 2, got {self.cv!r}")
        if self.recheck is not None and (not isinstance(self.recheck, int) or self.recheck < 0):
            raise ConfigError(
                f"--recheck must be a whole number of configurations, 0 (none) or more, "
                f"got {self.recheck!r}"
            )
        checked_checkpoint_every(self.checkpoint_every)
        if self.limits is None:
            object.__setattr__(self, "limits", Limits())
        if not isinstance(self.workers, int) or self.workers < 1:
            raise ConfigError(
                f"--workers must be a whole number of at least 1, got {self.workers!r}"
            )
        if self.timeout is not None and self.timeout <= 0:
            raise ConfigError(f"--timeout must be a positive number of seconds, got {self.timeout}")
        for name, least in (("trials", 1), ("epochs", 1), ("seed", 0)):
            value = getattr(self, name)
            if value is not None and value < least:
                at_least = "be 0 or more" if least == 0 else "be at least 1"
                raise ConfigError(f"--{name} must {at_least}, got {value}")

    @property
    def target(self) -> int | None:
        """Finished trials to reach: `trials`, else 20 unless a timeout ends the search."""
        if self.trials is None and self.timeout is None:
            return DEFAULT_TRIALS
        return self.trials

    def worker_options(self) -> WorkerOptions:
        return WorkerOptions(
            self.target, self.timeout, self.heartbeat_interval, self.offline, self.data,
            self.test_dir, self.checkpoint_every,
        )  # fmt: skip


def checked_checkpoint_every(value: int | None) -> None:
    if value is not None and (not isinstance(value, int) or value < 0):
        raise ConfigError(
            f"--checkpoint-every must be a whole number of epochs, 0 (none) or more, got {value!r}"
        )


def settings_from(
    keywords: dict[str, Any], workspace: Workspace | None, machine: Machine | None
) -> tuple[SearchOptions, Workspace, Machine]:
    """The Python API's keywords as the three objects; an unknown name, or one the given
    `workspace`/`machine` already holds, is refused with the names it takes."""
    parts: list[tuple[type, Any]] = [(Workspace, workspace), (Machine, machine)]
    taken: dict[type, dict[str, Any]] = {kind: {} for kind, _ in parts}
    for kind, given in parts:
        for f in dataclasses.fields(kind):
            if f.name in keywords:
                if given is not None:
                    where = kind.__name__.lower()
                    raise ConfigError(f"pass {f.name} inside {where}=, not beside it")
                taken[kind][f.name] = keywords.pop(f.name)
    names = {f.name for f in dataclasses.fields(SearchOptions)}
    unknown = sorted(set(keywords) - names)
    if unknown:
        valid = sorted(names | {f.name for kind, _ in parts for f in dataclasses.fields(kind)})
        raise ConfigError(
            f"search() got an unknown option {unknown[0]!r}; it takes: {', '.join(valid)}"
        )
    return (
        SearchOptions(**keywords),
        workspace or Workspace(**taken[Workspace]),
        machine or Machine(**taken[Machine]),
    )


def from_params(kind: type[T], params: Mapping[str, Any], **changes: Any) -> T:
    """A `kind` made of the entries of `params` (a command's options, by name) that are its
    fields, with `changes` on top: a new option reaches its object by its name alone."""
    names = {f.name for f in dataclasses.fields(kind)}
    return kind(**{**{k: v for k, v in params.items() if k in names}, **changes})
