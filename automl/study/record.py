"""The settings a study is created with, stored in its user attributes: one typed record.

Everything a worker needs to run trials of a study comes from here, so `automl worker` on
another machine needs only the study's name and storage. Read and written only in this
module; studies made before the record existed (the same attribute names) still load.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automl.errors import SpaceError, StudyError
from automl.errors import flag as flag_of
from automl.study.objectives import Objectives

if TYPE_CHECKING:  # not imported: `automl studies` reads the records without Optuna
    import optuna

    from automl.data import DataSource
    from automl.spaces import Space

log = logging.getLogger(__name__)

SETTLE_SECONDS = 60.0  # how long a second process waits for the first to write the record


@dataclass(frozen=True)
class StudyRecord:
    space: str  # registered name, or the name of the user's space file
    space_file: str | None  # the user's space file, resolved, when it is one
    data: str  # "digits" or the ImageFolder root, resolved
    test_dir: str | None
    data_fingerprint: str
    classes: list[str]
    channels: int
    epochs: int
    seed: int
    split_seed: int
    val_indices: list[int]
    resolution: int | None  # pinned for every trial, or None when the space searches it
    fixed: dict[str, Any] = field(default_factory=dict)  # --fix pins, resolution included
    model_options: dict[str, Any] = field(default_factory=dict)  # --weights, --no-pretrained
    sampler: str = "tpe"
    pruner: str = "hyperband"
    trials: int | None = None  # finished trials the last `search` asked for; workers aim at it
    choices: dict[str, list] = field(default_factory=dict)  # categoricals narrowed at creation
    portfolio: int = 0  # known-good trials enqueued when the study was made
    limits: dict[str, Any] = field(default_factory=dict)  # Limits.to_dict(): deployment budgets
    data_check: dict[str, Any] = field(default_factory=dict)  # automl/study/datacheck.py
    dedupe: bool = False  # training photos with a copy in the held-out folder left out
    excluded: list[int] = field(default_factory=list)  # training-pool rows --dedupe left out
    decode_base: int | None = None  # images decoded once at this px, smaller ones resized
    space_file_hash: str | None = None  # sha256 of the user's space file, to notice edits
    test_fingerprint: str | None = None  # content hash of the held-out folder (image folders)
    train_files: int | None = None  # files in train/ (or digits' training rows) when made
    test_files: int | None = None  # files in the held-out folder when made
    worker_options: dict[str, Any] = field(default_factory=dict)  # the last search's, for workers
    cv: int | None = None  # --cv K: trials train on K folds of the pool instead of the split
    folds: list[list[int]] = field(default_factory=list)  # the pool rows each fold validates on
    recheck: int | None = None  # --recheck N: the N best configurations run again (noise.py)
    artifacts: str | None = None  # --artifacts URL: where checkpoints go (None: study folder)
    objective: list[str] = field(default_factory=lambda: ["accuracy"])  # Objectives.names
    track: list[str] = field(default_factory=list)  # --track: the trackers its runs log to

    @property
    def objectives(self) -> Objectives:
        """Accuracy alone, or accuracy against a cost (a Pareto search)."""
        return Objectives.stored(self.objective)

    @property
    def validated_images(self) -> int:
        """How many images a trial's value rests on: the split's, or the smallest fold's."""
        return min(map(len, self.folds)) if self.folds else len(self.val_indices)

    def load_space(self) -> Space:
        """The study's space, its categoricals narrowed as when the study was created."""
        from automl.spaces import get_space

        return get_space(self.space_file or self.space).with_choices(self.choices)

    # Settings a resumed study must keep: changing them would mix incomparable trials.
    FROZEN = (
        "space",
        "data_fingerprint",
        "test_fingerprint",
        "epochs",
        "seed",
        "resolution",
        "model_options",
        "dedupe",
        "cv",
        "artifacts",
        "objective",
    )
    # Settings that keep the stored value unless this run gives them.
    OPTIONAL = (
        "epochs",
        "seed",
        "resolution",
        "dedupe",
        "model_options",
        "cv",
        "artifacts",
        "objective",
    )
    OPTIONS = {  # the options that give a frozen setting, where not the one of its name
        "data_fingerprint": ("data",),
        "test_fingerprint": ("test_dir",),
        "model_options": ("weights", "pretrained"),
    }

    def to_attrs(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_attrs(cls, attrs: dict[str, Any]) -> StudyRecord | None:
        """The record in a study's user attributes; None while it is not (fully) written."""
        if "space" not in attrs:  # written last: its presence marks the record complete
            return None
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in attrs.items() if k in names})

    @classmethod
    def from_study(cls, study: optuna.Study) -> StudyRecord:
        record = cls.from_attrs(study.user_attrs)
        if record is None:
            raise StudyError(
                f"study {study.study_name!r} was not made by `automl search`; "
                "create it with `automl search --study NAME` first"
            )
        return record

    @classmethod
    def written(cls, study: optuna.Study) -> StudyRecord | None:
        """The record of a study that exists; None for one without (made by hand, or by a run
        killed before it wrote it). A study without a record or trials was created an
        instant ago: its record is waited for while that process writes it."""
        record = cls.from_attrs(study.user_attrs)
        if record is None and not study.get_trials(deepcopy=False):
            log.info("waiting for the process that created study %s to record it", study.study_name)
            record = wait_for_record(study)  # or it died doing so
        return record

    def write(self, study: optuna.Study) -> None:
        """Every attribute, "space" last: a reader that sees it sees the whole record."""
        attrs = self.to_attrs()
        for key, value in attrs.items():
            if key != "space":
                study.set_user_attr(key, value)
        study.set_user_attr("space", attrs["space"])

    def data_location(
        self, data: str | Path | None = None, test_dir: str | Path | None = None
    ) -> tuple[str | Path | None, str | Path | None]:
        """Where the study's data is now: as recorded, or moved to `data` (the held-out
        folder moving along with it when it lived inside the data root)."""
        if data is None:
            return (None if self.data == "digits" else self.data), test_dir or self.test_dir
        if test_dir is None and self.test_dir and self.data != "digits":
            old_root, old_test = Path(self.data), Path(self.test_dir)
            if old_test.is_relative_to(old_root):
                test_dir = Path(data) / old_test.relative_to(old_root)
            else:  # it lived elsewhere: it stays where it was
                test_dir = self.test_dir
        return data, test_dir

    def update(self, study: optuna.Study, **changes: Any) -> StudyRecord:
        """The record with `changes` (settings that may change on resume), written."""
        for key, value in changes.items():
            if getattr(self, key) != value:
                study.set_user_attr(key, value)
        return dataclasses.replace(self, **changes)

    def describe_data(self) -> str:
        files = f"{self.train_files} training files, " if self.train_files else ""
        return f"{self.data} ({files}{len(self.classes)} classes)"

    def describe_held_out(self) -> str:
        files = f" ({self.test_files} files)" if self.test_files else ""
        return f"{self.test_dir}{files}"

    def check_same(
        self, other: StudyRecord, study_name: str, given: set[str], advice: str | None = None
    ) -> None:
        """Refuse to resume with a frozen setting changed; settings not `given` on this command
        line keep the stored value. The message names the option and both values in words."""
        for key in self.FROZEN:
            if key not in given and key in self.OPTIONAL:
                continue
            mine, theirs = getattr(other, key), getattr(self, key)
            if mine == theirs or (key == "test_fingerprint" and None in (mine, theirs)):
                continue  # studies made before the held-out folder was recorded
            flag = " / ".join(map(flag_of, self.OPTIONS.get(key, (key,))))
            if key == "data_fingerprint":
                what = f"was made on {self.describe_data()}, not on {other.describe_data()}"
                what += f" ({flag})"
            elif key == "test_fingerprint":
                what = f"holds out {self.describe_held_out()}, not {other.describe_held_out()}"
                what += f" ({flag})"
            elif key == "model_options":
                what = f"was made with model options {_shown(theirs)}, not {_shown(mine)} ({flag})"
            else:
                what = f"was made with {flag}={_shown(theirs)}, not {_shown(mine)}"
            advice = advice or f"leave {flag} out to keep the study's, or pick a new --study name"
            raise StudyError(f"study {study_name!r} {what}; {advice}")

    def check_space_edit(self, study: optuna.Study, space: Space, file_hash: str | None) -> None:
        """A rerun's space file (`file_hash` now) changed since the study's trials ran: a change
        Optuna cannot mix into one study (a categorical's choices, a param's kind) is refused
        before any trial runs; anything else (a numeric range, a new param) goes on with one
        warning."""
        if file_hash == self.space_file_hash or None in (file_hash, self.space_file_hash):
            return
        from optuna.distributions import CategoricalDistribution, check_distribution_compatibility

        file = self.space_file
        now = space.with_choices(self.choices).explore()
        before: dict[str, optuna.distributions.BaseDistribution] = {}
        for trial in study.get_trials(deepcopy=False):
            before.update(trial.distributions)
        for name in sorted(set(now) & set(before)):
            old, new = before[name], now[name]
            try:
                check_distribution_compatibility(old, new)
            except ValueError:  # what Optuna would refuse at every trial from now on
                if isinstance(old, CategoricalDistribution) and isinstance(
                    new, CategoricalDistribution
                ):
                    what = (
                        f"now chooses from [{', '.join(map(str, new.choices))}], its trials from "
                        f"[{', '.join(map(str, old.choices))}]"
                    )
                else:
                    what = f"is now {_kind(new)}, its trials drew it as {_kind(old)}"
                raise SpaceError(
                    f"{file} changed since study {study.study_name!r} ran: {name} {what} (one "
                    "study cannot mix the two); undo the edit or pick a new --study name"
                ) from None
        log.warning(
            "%s changed since study %s last ran; its trials go on with the edit",
            file,
            study.study_name,
        )

    def study_choices(self, study: optuna.Study, backbone_param: str | None) -> dict[str, list]:
        """The study's narrowed choices: as stored, or, for a study made before they were
        stored, as its trials recorded them."""
        if self.choices or backbone_param is None:
            return dict(self.choices)
        from optuna.distributions import CategoricalDistribution

        for trial in study.get_trials(deepcopy=False):
            dist = trial.distributions.get(backbone_param)
            if isinstance(dist, CategoricalDistribution):
                return {backbone_param: list(dist.choices)}
        return {}

    def check_pins(
        self, fixed: Mapping[str, Any], study_name: str, widened: Mapping[str, Sequence[Any]]
    ) -> None:
        """A pin on a resumed study must be one of the choices the study was made with: its
        stored ones, else the space's own (`widened` holds those plus a pin outside them)."""
        for name, value in fixed.items():
            values = self.choices.get(name, list(widened[name][:-1]) if name in widened else None)
            if values is not None and value not in values:
                raise StudyError(
                    f"study {study_name!r} searches {name} among {', '.join(map(str, values))} "
                    f"(its choices when it was made), not {value!r}; start a new --study to "
                    "pin it"
                )

    def open_data(
        self,
        study_name: str,
        data: str | Path | None = None,
        test_dir: str | Path | None = None,
        held_out: bool = True,
    ) -> DataSource:
        """The study's data where it is now (`data`/`test_dir`: moved there), refused in one
        line when its training images, or with `held_out` its held-out ones (hashed: only for
        those who read them), are not the ones the study was made on."""
        from automl.data import open_source  # torch: only where data is opened

        source = open_source(*self.data_location(data, test_dir))
        now = dataclasses.replace(
            self,
            data=source.name,
            test_dir=source.test_dir,
            data_fingerprint=source.fingerprint,
            train_files=source.train_files,
            test_fingerprint=source.test_fingerprint if held_out else None,
            test_files=source.held_out_count() if held_out else None,
        )
        advice = "point --data / --test-dir at the study's own images where they are now"
        self.check_same(now, study_name, {"data_fingerprint", "test_fingerprint"}, advice)
        return source


def _kind(dist: optuna.distributions.BaseDistribution) -> str:
    kind = {
        "CategoricalDistribution": "a categorical",
        "IntDistribution": "an int",
        "FloatDistribution": "a float",
    }.get(type(dist).__name__, type(dist).__name__)
    return kind + (" on a log scale" if getattr(dist, "log", False) else "")


def _shown(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "none"
    if isinstance(value, list | tuple):
        return ",".join(map(str, value))
    return str(value)


def wait_for_record(study: optuna.Study, timeout: float = SETTLE_SECONDS) -> StudyRecord | None:
    """The record another process is writing (it created the study an instant ago); None if
    it has not appeared after `timeout` seconds (that process died before writing it)."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        record = StudyRecord.from_attrs(study.user_attrs)
        if record is not None or time.monotonic() > deadline:
            return record
        time.sleep(delay)
        delay = min(delay * 2, 1.0)


def _known(cls: type, attrs: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in attrs.items() if k in names}


def read_partial(study: optuna.Study) -> StudyRecord:
    """The study's record as far as it is written: settings it lacks are None (a study made
    by other code, or by an older automl). For what only reads a study (its report)."""
    attrs = study.user_attrs
    given = _known(StudyRecord, attrs)
    missing = {
        f.name: None
        for f in dataclasses.fields(StudyRecord)
        if f.name not in given
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    }
    return StudyRecord(**given, **missing)


@dataclass(frozen=True)
class TrialRecord:
    """What automl stores in a trial's user attributes while it runs (objective.py); every
    field is optional, as a trial that failed early, or one made by other code, lacks some."""

    history: list[dict] = field(default_factory=list)  # a row per epoch (automl.train.fit)
    wall_time: float = 0.0  # seconds its training took
    epochs_run: int | None = None
    decode_seconds: float = 0.0  # decoding the split, the first trial at a resolution
    seed: int | None = None
    device: str | None = None
    precision: str | None = None
    precision_reason: str | None = None
    threads: int | None = None
    worker: str = ""  # host:pid [gpu ids] (objective.worker_label)
    memory_format: str | None = None
    params: int | None = None  # the model's size (automl.train.fit.model_stats)
    trainable_params: int | None = None
    flops: int | None = None
    latency_ms: float | None = None  # measured only when a latency limit is set
    pruned_reason: str = ""
    fail_reason: str | None = None
    over_limits: list[str] = field(default_factory=list)  # Limit.field names it was over
    # seconds outside the epochs: build, probe, features; startup on a worker's first trial
    parts_seconds: dict[str, float] = field(default_factory=dict)
    fold_values: list[float] = field(default_factory=list)  # --cv: each fold's val accuracy
    value_sd: float | None = None  # sd of the runs its value is the mean of (folds)
    recheck_of: int | None = None  # a re-check: the number of the search trial it runs again
    checkpointed: int | None = None  # epochs (of `history`) its last checkpoint holds
    resumed_from: int | None = None  # the trial whose checkpoint it carried on (checkpoints.py)
    resumed_after: int | None = None  # epochs of `history` carried over, not trained by it
    tracked: dict[str, str] = field(default_factory=dict)  # tracker -> its run's id (automl.track)

    @classmethod
    def of(cls, trial: optuna.trial.FrozenTrial | optuna.Trial) -> TrialRecord:
        return cls(**_known(cls, trial.user_attrs))

    @property
    def epochs_trained(self) -> int:
        """The epochs this trial trained itself (a retry carries earlier ones over)."""
        return max(0, int(self.epochs_run or 0) - int(self.resumed_after or 0))

    @property
    def run_epochs(self) -> int | None:
        """The epochs of one training run: all it ran, or under --cv one fold's."""
        if self.epochs_run is None:
            return None
        return self.epochs_run // max(1, len(self.fold_values))

    def measured(self, name: str) -> float | None:
        """A size a limit is checked against, by its Limit.measured name."""
        return getattr(self, name)

    @classmethod
    def note(cls, trial: optuna.Trial, **values: Any) -> None:
        """Write these fields of a running trial's record now."""
        for key, value in cls._checked(values).items():
            trial.set_user_attr(key, value)

    @classmethod
    def attrs(cls, **values: Any) -> dict[str, Any]:
        """These fields as the user attributes a trial is queued with."""
        return dict(cls._checked(values))

    @classmethod
    def note_stored(cls, storage: Any, trial_id: int, **values: Any) -> None:
        """The same, through the storage, for a trial Optuna has let go of."""
        for key, value in cls._checked(values).items():
            storage.set_trial_user_attr(trial_id, key, value)

    @classmethod
    def _checked(cls, values: dict[str, Any]) -> dict[str, Any]:
        unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise TypeError(f"TrialRecord has no field {', '.join(sorted(unknown))}")
        return values


@dataclass(frozen=True)
class FinalRun:
    """One `automl finalize` run: written to metrics.json (with its history) and kept in the
    study's "final_runs" (without), in the order the runs happened. Fields that a run of an
    older automl lacks are None."""

    run: int
    forced: bool = False
    trial: int | None = None
    val_accuracy: float | None = None  # the mean over its configuration's runs (re-checks)
    test_loss: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)  # automl.metrics, stored flat
    epochs: int | None = None
    seed: int | None = None
    device: str | None = None
    precision: str | None = None
    precision_reason: str | None = None
    memory_format: str | None = None
    threads: int | None = None
    train_images: int | None = None
    test_images: int | None = None
    finished_at: str | None = None
    history: list[dict] | None = None  # in metrics.json only
    val_sd: float | None = None  # sd of val_accuracy's runs (or its folds'), when several
    val_runs: list[int] = field(default_factory=list)  # numbers of the trials averaged
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def accuracy(self) -> float | None:
        return self.metrics.get("accuracy")

    def to_dict(self, history: bool = True) -> dict[str, Any]:
        """The flat dict stored, the metrics' keys after test_loss, as automl always wrote."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name == "metrics":
                out.update(self.metrics)
            elif f.name != "history" or history:
                out[f.name] = getattr(self, f.name)
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> FinalRun:
        names = {f.name for f in dataclasses.fields(cls)} - {"metrics"}
        metrics = {k: v for k, v in values.items() if k not in names}
        return cls(**{k: v for k, v in values.items() if k in names}, metrics=metrics)

    @staticmethod
    def stored(study: optuna.Study) -> list[FinalRun]:
        """The study's finalize runs so far, oldest first."""
        return [FinalRun.from_dict(r) for r in study.user_attrs.get("final_runs") or []]

    @staticmethod
    def started(study: optuna.Study) -> str | None:
        """When a finalize run last started (it may not have finished)."""
        return study.user_attrs.get("final_started")

    @staticmethod
    def mark_started(study: optuna.Study, when: str) -> None:
        study.set_user_attr("final_started", when)

    def add_to(self, study: optuna.Study, before: list[FinalRun]) -> None:
        """Store this run after `before` (the runs stored when it started)."""
        runs = [r.to_dict(history=False) for r in [*before, self]]
        study.set_user_attr("final_runs", runs)
