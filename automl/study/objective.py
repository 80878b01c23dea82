"""The objective: build a trial's config, train it, report every epoch, prune when told."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import optuna
import torch
from optuna.trial import TrialState

from automl import optuna_compat
from automl.config import with_model_options
from automl.data import DataSource, to_device_if_fits
from automl.errors import TrainingError
from automl.spaces import Space
from automl.study.checkpoints import INTERRUPTED, Checkpoints, first_of, of_trial, retried
from automl.study.folds import Folds, fold_note, trial_value
from automl.study.limits import Limits
from automl.study.pareto import ParetoRungs
from automl.study.recheck import NotARecheck, is_recheck
from automl.study.record import StudyRecord, TrialRecord
from automl.study.split import TrainingPool, training_pool
from automl.track import COMPLETED, FAILED, PRUNED, Tracking
from automl.track.study import end_trial, epoch_scalars, trial_start
from automl.track.tracking import TrackedRun
from automl.train.features import FeatureStore
from automl.train.fit import fit, model_stats, timing
from automl.train.measure import inference_latency_ms
from automl.train.memory import TrialOutOfMemory, release_memory
from automl.train.precision import Precision

log = logging.getLogger(__name__)


def worker_label() -> str:
    """Which worker ran a trial: host, process, and the GPUs it was given."""
    gpus = os.environ.get("CUDA_VISIBLE_DEVICES")
    return f"{socket.gethostname()}:{os.getpid()}" + (f" gpu {gpus}" if gpus else "")


@contextlib.contextmanager
def recording_interrupts(study: optuna.Study, objective: Objective) -> Iterator[None]:
    """`objective.current` names this process's trial from the moment the storage makes it
    RUNNING (created, or taken from the queue), before Optuna or the sampler do anything with
    it. Ctrl-C or a stop signal at any point after, even while Optuna itself works on the
    trial (its start or its end): the heartbeats stop, and that trial, if still RUNNING, is
    FAILed with the reason (best effort: the storage may be what was being waited for)."""
    storage = optuna_compat.storage(study)

    def note(trial_id: int) -> None:
        objective.current = trial_id

    try:
        with optuna_compat.on_trial_running(study, note):
            yield
    except KeyboardInterrupt:
        optuna_compat.stop_heartbeat_threads()  # else one left beating keeps the process
        trial_id = objective.current
        with contextlib.suppress(Exception):
            if trial_id is not None and storage.get_trial(trial_id).state == TrialState.RUNNING:
                TrialRecord.note_stored(storage, trial_id, fail_reason=INTERRUPTED)
                storage.set_trial_state_values(trial_id, TrialState.FAIL)
        raise


class Objective:
    """Maximises validation accuracy after the last epoch (and, in a two-objective study,
    minimises the model's cost); the split is fixed for the study."""

    def __init__(
        self,
        space: Space,
        source: DataSource,
        record: StudyRecord,
        *,
        precision: Precision,
        cache_dir: Path,
        on_epoch: Callable[[int, int, int, dict], None] | None = None,
        started: float | None = None,
        checkpoints: Checkpoints | None = None,
        tracking: Tracking | None = None,
    ) -> None:
        """The study's settings from its `record`: a model over one of its limits is pruned
        before it trains; its excluded training-pool rows are neither trained nor validated
        on (--dedupe); `on_epoch(trial number, epoch, epochs, history row)` after every epoch
        (progress); `started`: time.perf_counter() when this worker's run began: its first
        trial records the start-up (data check, decoding a new study's images, weights,
        probes) as a part. With --cv the record's folds are trained on in turn instead of the
        split (study/folds.py). `checkpoints`: where a trial's state is kept every few epochs,
        and where a retry of a cut-short trial finds it (study/checkpoints.py). `tracking`:
        the trackers each trial's run logs to (automl/track)."""
        self.limits = Limits.from_dict(record.limits)
        self.objectives = record.objectives
        pareto = self.objectives.multi and record.pruner == "pareto"
        self.rungs = ParetoRungs(record.epochs) if pareto else None  # Optuna's can't prune 2
        self.space = space
        self.source = source
        self.model_options = record.model_options or {}
        self.val_indices = np.asarray(sorted(record.val_indices), dtype=np.int64)
        self.excluded = np.asarray(sorted(record.excluded or []), dtype=np.int64)
        self.decode_base = record.decode_base  # decoded once at this px; smaller resized from it
        self.current: int | None = None  # trial id of the trial this process runs now
        self.rechecks_only = False  # the search has its trials: run queued re-checks only
        self.epochs = record.epochs
        self.precision = precision
        self.seed = record.seed
        self.cache_dir = cache_dir
        self.on_epoch = on_epoch
        self.started = started
        self.checkpoints = checkpoints
        self.tracking = tracking or Tracking()
        self._tracked: TrackedRun | None = None  # this trial's run in the trackers
        self._splits: dict[int, tuple] = {}
        split_key = hashlib.blake2b(
            self.val_indices.tobytes() + b"|" + self.excluded.tobytes(), digest_size=8
        ).hexdigest()
        if not len(self.excluded):  # the key studies made before --dedupe computed
            split_key = hashlib.blake2b(self.val_indices.tobytes(), digest_size=8).hexdigest()
        self.features = FeatureStore(
            cache_dir, f"{source.fingerprint}:{split_key}"
        )  # resolution -> (train, val) tensors, kept in memory
        self.folds = (
            Folds(record.folds, self.features, precision, record.classes) if record.folds else None
        )

    def runs(self, resolution: int, other_folds: int | None = None) -> list:
        """What a trial trains on in turn: the split, or each of --cv's folds (a re-check's:
        the pool cut into folds again, seeded by `other_folds`)."""
        if self.folds:
            return self.folds.splits(resolution, self.pool, other_folds)
        train, val = self.split(resolution)
        return [lambda: (train, val, self.features)]

    def pool(self, resolution: int) -> TrainingPool:
        """The training pool at `resolution`, without the rows --dedupe left out."""
        return training_pool(
            self.source, resolution, self.cache_dir, self.decode_base, self.excluded
        )

    def split(self, resolution: int) -> tuple[tuple[torch.Tensor, torch.Tensor], ...]:
        if resolution not in self._splits:
            pool = self.pool(resolution)
            is_val = np.isin(pool.rows, self.val_indices)
            train_idx = torch.from_numpy(np.flatnonzero(~is_val))
            val_idx = torch.from_numpy(np.flatnonzero(is_val))
            device = self.precision.device  # kept there for every trial at this resolution
            self._splits[resolution] = (
                to_device_if_fits(pool.images[train_idx], pool.labels[train_idx], device),
                to_device_if_fits(pool.images[val_idx], pool.labels[val_idx], device),
            )
        return self._splits[resolution]

    def measure(
        self, trial: optuna.Trial, model: torch.nn.Module, in_chans: int, resolution: int
    ) -> float | None:
        """Record the model's size (and latency, when limited or the cost); prune it,
        untrained, when it is over a limit. Every trial of a limited study gets the
        constraints, so the sampler tells the feasible models from the others. Returns the
        model's cost in a two-objective study."""
        stats: dict = model_stats(model, in_chans, resolution)
        if self.limits.needs_latency or self.objectives.cost == "latency":
            stats["latency_ms"] = inference_latency_ms(
                model, in_chans, resolution, self.precision.device, self.precision.dtype
            )
        TrialRecord.note(trial, **stats)
        cost = None if self.objectives.measured is None else float(stats[self.objectives.measured])
        if not self.limits:
            return cost
        for key, value in self.limits.constraints(stats).items():
            trial.set_constraint(key, value)
        over = self.limits.violations(stats)
        if over:
            reason = "over a limit: " + "; ".join(map(str, over))
            TrialRecord.note(trial, pruned_reason=reason, over_limits=[v.limit.field for v in over])
            raise optuna.TrialPruned(reason)
        return cost

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, float]:
        self.current = optuna_compat.trial_id(trial)  # for recording_interrupts, till the next
        self._kept: int | None = None  # the chain whose checkpoint this trial wrote or read
        self._tracked = None
        try:
            value = self._run(trial)
        except KeyboardInterrupt:  # Optuna fails the trial next; run_worker ends the run
            with contextlib.suppress(Exception):  # best effort: the interrupt goes on
                TrialRecord.note(trial, fail_reason=INTERRUPTED)
            self._end_run(trial, FAILED)
            raise  # its checkpoint stays: the next run resumes it
        except BaseException as exc:  # pruned, or failed otherwise: no retry will need it
            self._drop_checkpoint()
            self._end_run(trial, PRUNED if isinstance(exc, optuna.TrialPruned) else FAILED)
            raise
        self._drop_checkpoint()
        accuracy = value[0] if isinstance(value, tuple) else value
        self._end_run(trial, COMPLETED, {"value": accuracy})
        return value

    def _start_run(self, trial: optuna.Trial, attrs: dict, first: int) -> None:
        """The trial's run in each tracker; a retry's names the trial and runs it carries on."""
        if not self.tracking:
            return
        retries = None
        if first != trial.number:
            before = retried(attrs)[-1] if retried(attrs) else first
            earlier = trial.study.get_trials(deepcopy=False)[before]
            retries = {"trial": before, "runs": TrialRecord.of(earlier).tracked}
        recheck_of = TrialRecord.of(trial).recheck_of
        start = trial_start(trial.number, dict(trial.params), recheck_of, retries)
        self._tracked = self.tracking.start(start)
        if self._tracked.ids:
            TrialRecord.note(trial, tracked=self._tracked.ids)

    def _end_run(self, trial: optuna.Trial, state: str, values: dict | None = None) -> None:
        if self._tracked is None:
            return
        tracked, self._tracked = self._tracked, None
        try:
            attrs = dict(trial.user_attrs)
        except Exception:  # the storage is what failed: end the run with what is known
            attrs = {}
        end_trial(tracked, attrs, state, values)

    def _drop_checkpoint(self) -> None:
        if self.checkpoints is not None and self._kept is not None:
            self.checkpoints.remove(of_trial(self._kept))

    def _resumed(
        self, trial: optuna.Trial, attrs: dict, first: int, seed: int, runs: int
    ) -> dict | None:
        """The state a retry (system attributes `attrs`) carries on (study/checkpoints.py),
        told in one line; None for a trial that is not a retry, or whose chain left no usable
        checkpoint."""
        if self.checkpoints is None or first == trial.number:
            return None
        self._kept = first
        expected = {"params": trial.params, "seed": seed, "epochs": self.epochs, "runs": runs}
        state = self.checkpoints.load(of_trial(first), expected, f"trial {trial.number}")
        if state is None:
            return None
        carried, total = len(state["history"]), self.epochs * runs
        params = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                          for k, v in trial.params.items())  # fmt: skip
        before = retried(attrs)[-1] if retried(attrs) else first
        log.info(
            "trial %d resumes trial %d after epoch %d of %d: %s",
            trial.number, before, carried, total, params,
        )  # fmt: skip
        TrialRecord.note(
            trial, resumed_from=before, resumed_after=carried, history=state["history"]
        )
        return state

    def _run(self, trial: optuna.Trial) -> float | tuple[float, float]:
        parts: dict[str, float] = {}  # seconds of what is not an epoch (fit.Parts)
        if self.started is not None:  # this worker's first trial: what came before it
            parts["startup"], self.started = time.perf_counter() - self.started, None
        recheck = is_recheck(trial)  # run again: never pruned
        if self.rechecks_only and not recheck:
            reason = "not run: the study had its trials when a worker took it for a re-check"
            TrialRecord.note(trial, fail_reason=reason)
            raise NotARecheck(reason)
        cfg = with_model_options(self.space(trial), self.model_options)
        attrs = optuna_compat.trial_system_attrs(trial)
        first = first_of(trial, attrs)  # a retry trains with its chain's seed
        seed = self.seed + first
        self._start_run(trial, attrs, first)
        decode_start = time.perf_counter()
        runs = self.runs(cfg.data.resolution, seed if recheck else None)  # decoded once
        TrialRecord.note(trial, decode_seconds=time.perf_counter() - decode_start)
        TrialRecord.note(
            trial,
            seed=seed,
            device=str(self.precision.device),
            precision=self.precision.name,
            precision_reason=self.precision.reason,
            threads=torch.get_num_threads(),
            worker=worker_label(),
        )
        saved = self._resumed(trial, attrs, first, seed, len(runs))
        history: list[dict] = [] if saved is None else list(saved["history"])
        values: list[float] = [] if saved is None else list(saved["values"])  # each run's
        multi = self.objectives.multi  # Optuna's trial.report refuses two objectives
        for row in [] if recheck or multi else history:  # the pruner sees the whole curve
            if row.get("fold", 1) == 1:
                trial.report(row["val_acc"], row["epoch"])

        measured = False
        cost: float | None = None  # a two-objective study's, known once the model is built

        def on_built(model: torch.nn.Module) -> None:
            nonlocal measured, cost
            if measured:  # on the first run (fold)
                return
            measured = True
            with timing(parts, "probe"):
                cost = self.measure(trial, model, train[0].shape[1], cfg.data.resolution)

        def on_model(model: torch.nn.Module, how: dict) -> None:
            layout = "channels_last" if how["channels_last"] else "contiguous"
            TrialRecord.note(trial, memory_format=layout)

        def on_epoch(epoch: int, row: dict) -> None:
            history.append(row | fold_note(values, len(runs)))
            TrialRecord.note(trial, history=history)
            if self._tracked is not None:
                self._tracked.epoch(len(history), epoch_scalars(row))
            if self.on_epoch is not None:
                self.on_epoch(trial.number, len(history), self.epochs * len(runs), row)
            if values or recheck:  # --cv: the pruner sees the first fold only (folds.py)
                return
            if multi:
                self._pareto_prune(trial, epoch, cost, row["val_acc"])
                return
            trial.report(row["val_acc"], epoch)
            if trial.should_prune():
                TrialRecord.note(trial, pruned_reason=f"pruner stopped it after epoch {epoch}")
                raise optuna.TrialPruned(f"pruned after epoch {epoch}")

        def on_checkpoint(epoch: int, state: Callable[[], dict]) -> None:
            last_run = len(values) + 1 == len(runs)
            if self.checkpoints is None or not self.checkpoints.due(
                epoch, last_run and epoch == self.epochs
            ):
                return
            done = epoch == self.epochs  # this run's value is in; the next starts afresh
            self._kept = first
            self.checkpoints.save(
                of_trial(first),
                {
                    "params": trial.params, "seed": seed, "epochs": self.epochs,
                    "runs": len(runs), "history": history,
                    "values": values + [history[-1]["val_acc"]] if done else values,
                    "fit": None if done else state(),
                },
            )  # fmt: skip
            TrialRecord.note(trial, checkpointed=len(history))

        start = time.perf_counter()
        out_of_memory = None
        try:
            for i, run in enumerate(runs):
                if i < len(values):  # done before the break
                    continue
                train, val, features = run()
                fit(
                    cfg,
                    train,
                    val,
                    num_classes=len(self.source.classes),
                    epochs=self.epochs,
                    precision=self.precision,
                    seed=seed,
                    features=features,
                    on_built=on_built,
                    on_model=on_model,
                    on_epoch=on_epoch,
                    parts=parts,
                    on_checkpoint=on_checkpoint,
                    resume=None if saved is None else saved["fit"],
                )
                saved = None  # carried into this run only
                values.append(history[-1]["val_acc"])
        except TrainingError as exc:  # NaN/inf loss: not a score, not a crash of the search
            TrialRecord.note(trial, pruned_reason=str(exc))
            raise optuna.TrialPruned(str(exc)) from exc
        except optuna.TrialPruned:
            raise
        except torch.OutOfMemoryError as exc:  # the trial fails; the study goes on
            out_of_memory = TrialOutOfMemory.of(exc, self.precision.device)
            TrialRecord.note(trial, fail_reason=out_of_memory.reason)
        except Exception as exc:  # the trial fails; say why
            reason = (str(exc).strip().splitlines() or [""])[0][:300]
            TrialRecord.note(trial, fail_reason=f"{type(exc).__name__}: {reason}")
            raise
        finally:
            TrialRecord.note(
                trial,
                wall_time=time.perf_counter() - start,
                epochs_run=len(history),
                parts_seconds=parts,
            )
        if out_of_memory is not None:  # out of the handler: nothing holds the trial's tensors
            release_memory(self.precision.device)
            raise out_of_memory
        value = trial_value(trial, values)
        return (value, cost) if multi else value

    def _pareto_prune(
        self, trial: optuna.Trial, epoch: int, cost: float | None, accuracy: float
    ) -> None:
        """automl's rule for two objectives (pareto.py): at a rung, stop a trial that
        cheaper-and-better trials outnumber."""
        if self.rungs is None or cost is None or epoch not in self.rungs.rungs:
            return
        trials = trial.study.get_trials(deepcopy=False)
        reason = self.rungs.decide(trial.number, epoch, cost, accuracy, trials, self.objectives)
        if reason is not None:
            TrialRecord.note(trial, pruned_reason=reason)
            raise optuna.TrialPruned(reason)
