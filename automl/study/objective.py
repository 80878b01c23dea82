"""The objective: build a trial's config, train it, report every epoch, prune when told."""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import torch
from optuna.trial import TrialState

from automl.config import with_model_options
from automl.data import DataSource, to_device_if_fits
from automl.errors import TrainingError
from automl.spaces import Space
from automl.study.limits import Limits
from automl.train.features import FeatureStore
from automl.train.fit import fit, model_stats, timing
from automl.train.measure import inference_latency_ms
from automl.train.memory import TrialOutOfMemory, release_memory
from automl.train.precision import Precision


def worker_label() -> str:
    """Which worker ran a trial: host, process, and the GPUs it was given."""
    gpus = os.environ.get("CUDA_VISIBLE_DEVICES")
    return f"{socket.gethostname()}:{os.getpid()}" + (f" gpu {gpus}" if gpus else "")


def record_interrupt(study: optuna.Study, trial_id: int | None) -> None:
    """Ctrl-C or a stop signal came while Optuna itself worked on this process's trial (its
    start or its end), which left it RUNNING: FAIL, with the reason."""
    if trial_id is None:
        return
    storage = study._storage
    if storage.get_trial(trial_id).state == TrialState.RUNNING:
        storage.set_trial_user_attr(trial_id, "fail_reason", "interrupted")
        storage.set_trial_state_values(trial_id, TrialState.FAIL)


@contextlib.contextmanager
def noting_each_trial(study: optuna.Study, objective: Objective) -> Iterator[None]:
    """`objective.current` names this process's trial from the moment the storage makes it
    RUNNING (created, or taken from the queue), before Optuna or the sampler do anything with
    it, so an interrupt at any point after is recorded. Wraps this storage instance only."""
    storage = study._storage
    create, set_state = storage.create_new_trial, storage.set_trial_state_values

    def creating(study_id: int, template_trial: Any = None) -> int:
        trial_id = create(study_id, template_trial)
        if template_trial is None:  # asked for by this process (not a trial queued again)
            objective.current = trial_id
        return trial_id

    def setting(trial_id: int, state: TrialState, *args: Any, **kwargs: Any) -> bool:
        changed = set_state(trial_id, state, *args, **kwargs)
        if changed and state == TrialState.RUNNING:
            objective.current = trial_id
        return changed

    storage.create_new_trial, storage.set_trial_state_values = creating, setting
    try:
        yield
    finally:
        del storage.create_new_trial, storage.set_trial_state_values


def stop_heartbeats() -> None:
    """An interrupt between Optuna starting a trial's heartbeat thread and entering its `with`
    leaves that (non-daemon) thread beating forever, and the process could never exit: set
    the stop event of any left. Relies on optuna.storages._heartbeat.HeartbeatThread's
    thread target and arguments (trial_id, heartbeat, stop_event)."""
    for thread in threading.enumerate():
        target = getattr(thread, "_target", None)
        if getattr(target, "__qualname__", "") == "HeartbeatThread._record_heartbeat":
            thread._args[2].set()


class Objective:
    """Maximises validation accuracy after the last epoch; the split is fixed for the study."""

    def __init__(
        self,
        space: Space,
        source: DataSource,
        val_indices: list[int],
        *,
        epochs: int,
        precision: Precision,
        seed: int,
        cache_dir: Path,
        model_options: dict | None = None,
        limits: Limits | None = None,
        excluded: list[int] | None = None,
        decode_base: int | None = None,
        on_epoch: Callable[[int, int, int, dict], None] | None = None,
        started: float | None = None,
    ) -> None:
        """`limits`: a model over one is pruned before it trains; `excluded`: training-pool
        rows neither trained nor validated on (--dedupe);
        `on_epoch(trial number, epoch, epochs, history row)` after every epoch (progress);
        `started`: time.perf_counter() when this worker's run began: its first trial records
        the start-up (data check, decoding a new study's images, weights, probes) as a part."""
        self.limits = limits or Limits()
        self.space = space
        self.source = source
        self.model_options = model_options or {}
        self.val_indices = np.asarray(sorted(val_indices), dtype=np.int64)
        self.excluded = np.asarray(sorted(excluded or []), dtype=np.int64)
        self.decode_base = decode_base  # decoded once at this px; smaller ones resized from it
        self.current: int | None = None  # trial id of the trial this process runs now
        self.epochs = epochs
        self.precision = precision
        self.seed = seed
        self.cache_dir = cache_dir
        self.on_epoch = on_epoch
        self.started = started
        self._splits: dict[int, tuple] = {}
        split_key = hashlib.blake2b(
            self.val_indices.tobytes() + b"|" + self.excluded.tobytes(), digest_size=8
        ).hexdigest()
        if not len(self.excluded):  # the key studies made before --dedupe computed
            split_key = hashlib.blake2b(self.val_indices.tobytes(), digest_size=8).hexdigest()
        self.features = FeatureStore(
            cache_dir, f"{source.fingerprint}:{split_key}"
        )  # resolution -> (train, val) tensors, kept in memory

    def split(self, resolution: int) -> tuple[tuple[torch.Tensor, torch.Tensor], ...]:
        if resolution not in self._splits:
            pool = self.source.train_pool(resolution, self.cache_dir, self.decode_base)
            is_val = np.zeros(len(pool.labels), dtype=bool)
            is_val[self.val_indices] = True
            is_out = np.zeros(len(pool.labels), dtype=bool)
            is_out[self.excluded] = True
            train_idx = torch.from_numpy(np.flatnonzero(~is_val & ~is_out))
            val_idx = torch.from_numpy(self.val_indices)
            device = self.precision.device  # kept there for every trial at this resolution
            self._splits[resolution] = (
                to_device_if_fits(pool.images[train_idx], pool.labels[train_idx], device),
                to_device_if_fits(pool.images[val_idx], pool.labels[val_idx], device),
            )
        return self._splits[resolution]

    def measure(
        self, trial: optuna.Trial, model: torch.nn.Module, in_chans: int, resolution: int
    ) -> None:
        """Record the model's size (and latency, when limited); prune it, untrained, when it
        is over a limit. Every trial of a limited study gets the constraints, so the sampler
        tells the feasible models from the others."""
        stats: dict = model_stats(model, in_chans, resolution)
        if self.limits.needs_latency:
            stats["latency_ms"] = inference_latency_ms(
                model, in_chans, resolution, self.precision.device, self.precision.dtype
            )
        for key, value in stats.items():
            trial.set_user_attr(key, value)
        if not self.limits:
            return
        for key, value in self.limits.constraints(stats).items():
            trial.set_constraint(key, value)
        over = self.limits.violations(stats)
        if over:
            reason = "over a limit: " + "; ".join(map(str, over))
            trial.set_user_attr("pruned_reason", reason)
            trial.set_user_attr("over_limits", [v.limit.field for v in over])
            raise optuna.TrialPruned(reason)

    def __call__(self, trial: optuna.Trial) -> float:
        self.current = trial._trial_id  # for record_interrupt, until the next trial starts
        try:
            return self._run(trial)
        except KeyboardInterrupt:  # Optuna fails the trial next; run_worker ends the run
            with contextlib.suppress(Exception):  # best effort: the interrupt goes on
                trial.set_user_attr("fail_reason", "interrupted")
            raise

    def _run(self, trial: optuna.Trial) -> float:
        parts: dict[str, float] = {}  # seconds of what is not an epoch (fit.Parts)
        if self.started is not None:  # this worker's first trial: what came before it
            parts["startup"], self.started = time.perf_counter() - self.started, None
        cfg = with_model_options(self.space(trial), self.model_options)
        decode_start = time.perf_counter()
        train, val = self.split(cfg.data.resolution)  # decoded once per resolution and process
        trial.set_user_attr("decode_seconds", time.perf_counter() - decode_start)
        seed = self.seed + trial.number
        for key, value in {
            "seed": seed,
            "device": str(self.precision.device),
            "precision": self.precision.name,
            "precision_reason": self.precision.reason,
            "threads": torch.get_num_threads(),
            "worker": worker_label(),
        }.items():
            trial.set_user_attr(key, value)
        history: list[dict] = []

        def on_built(model: torch.nn.Module) -> None:
            with timing(parts, "probe"):
                self.measure(trial, model, train[0].shape[1], cfg.data.resolution)

        def on_model(model: torch.nn.Module, how: dict) -> None:
            layout = "channels_last" if how["channels_last"] else "contiguous"
            trial.set_user_attr("memory_format", layout)

        def on_epoch(epoch: int, row: dict) -> None:
            history.append(row)
            trial.set_user_attr("history", history)
            if self.on_epoch is not None:
                self.on_epoch(trial.number, epoch, self.epochs, row)
            trial.report(row["val_acc"], epoch)
            if trial.should_prune():
                trial.set_user_attr("pruned_reason", f"pruner stopped it after epoch {epoch}")
                raise optuna.TrialPruned(f"pruned after epoch {epoch}")

        start = time.perf_counter()
        out_of_memory = None
        try:
            fit(
                cfg,
                train,
                val,
                num_classes=len(self.source.classes),
                epochs=self.epochs,
                precision=self.precision,
                seed=seed,
                features=self.features,
                on_built=on_built,
                on_model=on_model,
                on_epoch=on_epoch,
                parts=parts,
            )
        except TrainingError as exc:  # NaN/inf loss: not a score, not a crash of the search
            trial.set_user_attr("pruned_reason", str(exc))
            raise optuna.TrialPruned(str(exc)) from exc
        except optuna.TrialPruned:
            raise
        except torch.OutOfMemoryError as exc:  # the trial fails; the study goes on
            out_of_memory = TrialOutOfMemory.of(exc, self.precision.device)
            trial.set_user_attr("fail_reason", out_of_memory.reason)
        except Exception as exc:  # the trial fails; say why
            reason = (str(exc).strip().splitlines() or [""])[0][:300]
            trial.set_user_attr("fail_reason", f"{type(exc).__name__}: {reason}")
            raise
        finally:
            trial.set_user_attr("wall_time", time.perf_counter() - start)
            trial.set_user_attr("epochs_run", len(history))
            trial.set_user_attr("parts_seconds", parts)
        if out_of_memory is not None:  # out of the handler: nothing holds the trial's tensors
            release_memory(self.precision.device)
            raise out_of_memory
        return history[-1]["val_acc"]
