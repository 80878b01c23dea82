"""A checkpoint per running trial, so that an interrupted trial's retry carries on from its
last epoch instead of training from the first (docs/concepts.md, Checkpoints).

A trial's checkpoint is written every `--checkpoint-every` epochs into the study's Optuna
artifact store (a folder under the study's by default; `--artifacts URL` for workers on many
machines), under the number of the first trial of its retries, whose seed they all train with.
A retry is a trial the heartbeat queued again (its worker died) or one `queue_interrupted`
queued for a trial Ctrl-C or a stop signal ended. The checkpoint names the trial's params and is
refused (one warning, the retry starts from epoch 1) when they differ or it does not load.
It is removed when the trial completes, is pruned or fails for another reason, and by `sweep`
once the search has its trials.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import torch
from optuna.artifacts import FileSystemArtifactStore
from optuna.artifacts.exceptions import ArtifactNotFound
from optuna.trial import FrozenTrial, TrialState

from automl.errors import ConfigError
from automl.paths import Paths
from automl.study.record import TrialRecord
from automl.study.storage import RETRIES
from automl.train.checkpoint import pack, unpack

log = logging.getLogger(__name__)

FORMAT = 1  # bumped when a checkpoint's content changes: older ones are refused
INTERRUPTED = "interrupted"  # the fail_reason of a trial Ctrl-C or a stop signal ended
SCHEMES = {"s3": "S3 or S3-compatible (boto3)", "gs": "Google Cloud Storage", "file": "a folder"}
NEEDS = {  # scheme: the module its store imports, and how to install it
    "s3": ("boto3", "pip install 'automl[s3]'"),
    "gs": ("google.cloud.storage", "pip install 'automl[gcs]'"),
}


class AtomicFileSystemArtifactStore(FileSystemArtifactStore):
    """Optuna's file-system store, but a write lands whole or not at all (a worker killed while
    writing leaves the previous checkpoint, not half a file) and makes its folders."""

    def write(self, artifact_id: str, content_body) -> None:
        path = self._get_filepath(artifact_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}")
        try:
            with open(temporary, "xb") as f:  # the umask's mode, as every other output
                shutil.copyfileobj(content_body, f)
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise


def open_store(url: str | None, default: Path, study: str) -> tuple[Any, str]:
    """The artifact store a study's `--artifacts` URL (as `checked_url` gave it) names, and
    the prefix of its ids there: None -> the folder `default`; a path or file:///path -> that
    folder; s3://bucket/prefix (endpoint and keys as boto3 finds them: AWS_ENDPOINT_URL for
    S3-compatible servers) or gs://bucket/prefix. In a store given, ids start with the
    study's name."""
    if url is None:
        return AtomicFileSystemArtifactStore(default), ""
    url = checked_url(url)
    scheme, _, rest = url.partition("://")
    if not rest:
        return AtomicFileSystemArtifactStore(Path(url)), f"{study}/"
    if scheme == "file":
        return AtomicFileSystemArtifactStore(Path(rest)), f"{study}/"
    bucket, _, prefix = rest.partition("/")
    prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
    if scheme == "s3":
        from optuna.artifacts import Boto3ArtifactStore

        return Boto3ArtifactStore(bucket), f"{prefix}{study}/"
    from optuna.artifacts import GCSArtifactStore

    return GCSArtifactStore(bucket), f"{prefix}{study}/"


def checked_url(url: str | Path | None) -> str | None:
    """`--artifacts` as a study records it: a path made absolute (workers may run in another
    folder), a URL as given; an unknown kind of store, or one whose module is missing, refused
    in one line."""
    if url is None:
        return None
    url = str(url)
    scheme, _, rest = url.partition("://")
    if not rest:
        return str(Path(url).expanduser().resolve())
    if scheme not in SCHEMES:
        valid = ", ".join(f"{s}:// ({what})" for s, what in SCHEMES.items())
        raise ConfigError(
            f"--artifacts {url}: unknown kind of store {scheme}://; use a path or {valid}"
        )
    module, install = NEEDS.get(scheme, (None, None))
    if module and not _importable(module):
        raise ConfigError(f"--artifacts {url} needs {module}, which is not installed: {install}")
    return url


def _importable(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # its parent package is missing
        return False


FINAL = "final"  # the checkpoint of `automl finalize`'s retrain


def of_trial(first: int) -> str:
    """The name of the checkpoint of the chain of retries that trial `first` began."""
    return f"trial-{first}"


def first_of(trial: FrozenTrial | optuna.Trial, system_attrs: dict | None = None) -> int:
    """The number of the first trial of a retry's chain (its own when it is none): whose seed
    and checkpoint it carries on. Optuna's heartbeat retry and `queue_interrupted` both write
    `failed_trial` (RetryHeartbeatStaleTrialCallback.retried_trial_number)."""
    attrs = trial.system_attrs if system_attrs is None else system_attrs
    return attrs.get("failed_trial", trial.number)


def retried(attrs: dict) -> list[int]:
    """The trials a retry carries on, the first first (RetryHeartbeatStaleTrialCallback)."""
    return list(attrs.get("retry_history", []))


@dataclass
class Checkpoints:
    """A study's trial checkpoints: `every` epochs (0: none), in `store` under `prefix`."""

    store: Any
    prefix: str = ""
    every: int = 1

    @classmethod
    def of(cls, url: str | None, paths: Paths, study: str, every: int) -> Checkpoints:
        """Study `study`'s, in the store `url` names (its `--artifacts`), else in its folder."""
        store, prefix = open_store(url, paths.folder(study) / "checkpoints", study)
        return cls(store, prefix, every)

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}.pt"

    def due(self, epoch: int, last: bool) -> bool:
        """After `epoch` of a run: a checkpoint is due (never after a trial's last epoch)."""
        return self.every > 0 and not last and epoch % self.every == 0

    def save(self, name: str, state: dict) -> None:
        """Write checkpoint `name` (`of_trial(n)`, or FINAL), replacing the one before."""
        buffer = io.BytesIO()
        torch.save(pack({"format": FORMAT, **state}), buffer)
        buffer.seek(0)
        self.store.write(self.key(name), buffer)

    def load(self, name: str, expected: dict[str, Any], who: str) -> dict | None:
        """Checkpoint `name` if there is one and it is of the same run (each key of
        `expected` equal: params, seed, epochs...); else None, with one warning naming `who`
        when there was one that could not be used."""
        key = self.key(name)
        try:
            with self.store.open_reader(key) as reader:
                body = io.BytesIO(reader.read())
        except ArtifactNotFound:
            return None
        except Exception as exc:  # the store is unreachable: train from the start
            log.warning("%s: cannot read checkpoint %s (%s); starting from epoch 1", who, key, exc)
            return None
        try:
            state = unpack(torch.load(body, map_location="cpu", weights_only=True))
        except Exception as exc:
            why = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]
            log.warning("%s: checkpoint %s does not load (%s); starts at epoch 1", who, key, why)
            return None
        wanted = {"format": FORMAT, **expected}
        wrong = [k for k, v in wanted.items() if not isinstance(state, dict) or state.get(k) != v]
        if wrong:
            log.warning(
                "%s: checkpoint %s is of another run (its %s differ); starting from epoch 1",
                who,
                key,
                ", ".join(wrong),
            )
            return None
        return state

    def remove(self, name: str) -> None:
        try:
            self.store.remove(self.key(name))
        except ArtifactNotFound:
            pass
        except Exception as exc:  # left for sweep or `automl delete`
            log.warning("could not remove checkpoint %s: %s", self.key(name), exc)

    def remove_all(self, study: optuna.Study) -> None:
        """Every checkpoint of `study` (`automl delete`): its trials' and finalize's; in a
        folder, the study's whole folder of them, strays included."""
        base = getattr(self.store, "_base_path", None)
        if isinstance(self.store, FileSystemArtifactStore) and base is not None:
            shutil.rmtree(Path(base) / self.prefix, ignore_errors=True)
            return
        trials = study.get_trials(deepcopy=False)
        names = {of_trial(first_of(t)) for t in trials if TrialRecord.of(t).checkpointed}
        for name in sorted(names | {FINAL}):
            self.remove(name)

    def sweep(self, study: optuna.Study) -> int:
        """Remove the checkpoints of every chain no trial runs or waits to run now (what
        killed workers and interrupted trials left); for when the search has its trials. How
        many it removed."""
        trials = study.get_trials(deepcopy=False)
        active = (TrialState.RUNNING, TrialState.WAITING)  # a queued retry will want its own
        running = {first_of(t) for t in trials if t.state in active}
        left = {
            first_of(t)
            for t in trials
            if TrialRecord.of(t).checkpointed is not None and first_of(t) not in running
        }
        for first in sorted(left):
            self.remove(of_trial(first))
        return len(left)


def queue_interrupted(study: optuna.Study, searching: bool) -> list[int]:
    """Queue again each trial that Ctrl-C or a stop signal ended and that no trial carries on
    yet (up to RETRIES in a chain), so that this run resumes it from its checkpoint; search
    trials only while `searching` (the study lacks trials), re-checks always. The numbers
    queued. Two workers starting at the same instant may both queue one: both runs are real
    (Optuna has no atomic "queue if absent")."""
    trials = study.get_trials(deepcopy=False)
    carried = {n for t in trials for n in retried(t.system_attrs)}
    queued = []
    for t in trials:
        record = TrialRecord.of(t)
        if t.state != TrialState.FAIL or record.fail_reason != INTERRUPTED or t.number in carried:
            continue
        if (record.recheck_of is None and not searching) or len(retried(t.system_attrs)) >= RETRIES:
            continue
        attrs = {"failed_trial": first_of(t), "retry_history": [*retried(t.system_attrs), t.number]}
        keep = {} if record.recheck_of is None else {"recheck_of": record.recheck_of}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.add_trial(
                optuna.create_trial(
                    state=TrialState.WAITING,
                    params=t.params,
                    distributions=t.distributions,
                    user_attrs=TrialRecord.attrs(**keep),
                    system_attrs=attrs,
                )
            )
        queued.append(t.number)
    return queued
