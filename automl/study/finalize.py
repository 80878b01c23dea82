"""`automl finalize`: retrain the best trial on train+val, score it once on the held-out split."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from automl.config import config_to_dict, with_model_options
from automl.data import Batches
from automl.errors import AutoMLError, StudyError
from automl.interrupt import Interrupted
from automl.io import write_json
from automl.metrics import classification_metrics
from automl.modelfile import ModelFile, load_model, model_code
from automl.settings import STUDIES_DIR, Machine, WorkerOptions, Workspace
from automl.study.checkpoints import FINAL, Checkpoints
from automl.study.noise import Config, configs
from automl.study.objectives import Objectives
from automl.study.pareto import default_pick, study_front
from automl.study.record import FinalRun, StudyRecord, TrialRecord
from automl.study.split import training_pool
from automl.study.storage import load_study
from automl.study.tables import state_name
from automl.train.engine import evaluate
from automl.train.features import FeatureStore
from automl.train.fit import fit
from automl.train.precision import resolve_device, resolve_precision

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FinalResult:
    study: str
    trial: int  # number of the best trial that was retrained
    run: int  # 1 for the first scoring, 2+ for forced re-scores
    forced: bool
    metrics: dict
    model_path: Path
    metrics_path: Path

    @property
    def test_accuracy(self) -> float:
        return self.metrics["accuracy"]


def finalize(
    study: str,
    *,
    storage: str | None = None,
    studies_dir: str | Path = STUDIES_DIR,
    force: bool = False,
    device: str = "auto",
    precision: str = "auto",
    data: str | Path | None = None,
    test_dir: str | Path | None = None,
    threads: int | None = None,
    trial: int | None = None,
) -> FinalResult:
    """Retrain the best trial from its params alone and evaluate it on the held-out split once
    (`automl.finalize` then uploads the metrics for optuna-dashboard: automl/api.py).

    `data` / `test_dir` override where the study's data now lives (its content must not change).
    `threads` (torch intra-op threads while it runs) defaults to OMP_NUM_THREADS or every core.
    `trial` retrains that completed search trial instead (None: the best; in a study of
    accuracy against a cost, the most accurate member of the Pareto front). Either way the
    choice rests on validation numbers alone, made before the held-out split is looked at.
    """
    machine = Machine(device, precision, threads)
    with machine.threads_set():
        return _finalize(
            study, Workspace(studies_dir, storage), machine, force, data, test_dir, trial
        )


def _finalize(
    study: str,
    workspace: Workspace,
    machine: Machine,
    force: bool,
    data: str | Path | None,
    test_dir: str | Path | None,
    number: int | None = None,
) -> FinalResult:
    the_study = load_study(study, workspace.storage_for(study))
    record = StudyRecord.from_study(the_study)
    runs = FinalRun.stored(the_study)  # the final runs so far
    started = FinalRun.started(the_study)
    if (runs or started) and not force:
        if runs:
            last = runs[-1]
            seen = f"{last.finished_at}, test accuracy {last.accuracy:.4f}"
        else:
            seen = f"a run started {started} and did not finish"
        raise StudyError(
            f"study {study!r} was already scored on its held-out split ({seen}); "
            "pass --force to re-score (every run is kept)"
        )
    trials = the_study.get_trials(deepcopy=False)
    found = configs(trials)
    if not found:
        raise StudyError(f"study {study!r} has no completed trial yet; run `automl search` first")
    if number is not None:
        picked = _given(study, number, trials, found, record.objectives)
        log.info("picked trial %d (--trial): validation accuracy %s", number, picked.describe())
    else:  # the best; a Pareto search's: its front's most accurate member
        picked = default_pick(trials, record.objectives)
        if record.objectives.multi:
            _say_front(picked, trials, record.objectives)
        else:
            _say_pick(picked, found)
    best = trials[picked.trial]  # a trial's number is its index
    space = record.load_space()
    cfg = with_model_options(space.rebuild(best.params), record.model_options)
    cache_dir = workspace.paths.cache
    amp = resolve_precision(machine.precision, resolve_device(machine.device), cache_dir)
    source = record.open_data(study, data, test_dir)
    pool = training_pool(
        source, cfg.data.resolution, cache_dir, record.decode_base, record.excluded
    )
    images, labels = pool.images, pool.labels
    trial_record = TrialRecord.of(best)
    entry = FinalRun(  # this run as metrics.json keeps it; what scoring it gives comes later
        run=len(runs) + 1,
        forced=bool(runs or started),
        trial=best.number,
        val_accuracy=picked.value,
        val_sd=picked.sd,
        val_runs=list(picked.numbers),
        epochs=int(record.epochs if trial_record.epochs_run is None else trial_record.run_epochs),
        seed=int(record.seed if trial_record.seed is None else trial_record.seed),
        device=str(amp.device),
        precision=amp.name,
        precision_reason=amp.reason,
        threads=torch.get_num_threads(),
        train_images=len(labels),
        params=best.params,
    )
    log.info(
        "retraining trial %d on train+val (%d images) for %d epochs in %s (%s)",
        best.number,
        len(labels),
        entry.epochs,
        amp.name,
        amp.reason,
    )
    # Decoded (not evaluated) before the retrain, so a broken held-out folder fails early.
    test = source.held_out(cfg.data.resolution, cache_dir, record.decode_base)
    checkpoints = Checkpoints.of(
        record.artifacts,
        workspace.paths,
        study,
        WorkerOptions().over(record.worker_options).checkpoint_interval,
    )
    run = {"trial": best.number, "params": best.params, "seed": entry.seed,
           "epochs": entry.epochs, "train_images": len(labels)}  # fmt: skip
    saved = checkpoints.load(FINAL, run, "finalize")
    if saved is not None:
        log.info(
            "resuming the retrain of trial %d after epoch %d of %d (its checkpoint)",
            best.number, saved["fit"]["epoch"], entry.epochs,
        )  # fmt: skip

    def on_checkpoint(epoch: int, state) -> None:
        if checkpoints.due(epoch, epoch == entry.epochs):
            checkpoints.save(FINAL, {**run, "fit": state()})

    try:
        trained = fit(
            cfg,
            (images, labels),
            None,
            num_classes=len(source.classes),
            epochs=entry.epochs,
            precision=amp,
            seed=entry.seed,
            features=FeatureStore(cache_dir, source.fingerprint),
            on_checkpoint=on_checkpoint,
            resume=None if saved is None else saved["fit"],
        )
    except KeyboardInterrupt as exc:
        resumes = "resume the retrain from its last checkpoint" if checkpoints.every else "retrain"
        raise Interrupted.of(
            exc,
            "the retrain stopped before the held-out split was looked at",
            f"rerun the same command to {resumes}",
        ) from None
    started_at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    # The held-out split is looked at from here: a crash from here on still counts.
    FinalRun.mark_started(the_study, started_at)

    # The one and only evaluation on the held-out split.
    batches = Batches(
        test.images, test.labels, 256, mean=trained.mean, std=trained.std, device=amp.device
    )
    scored = evaluate(trained.model, nn.CrossEntropyLoss(), batches, amp)
    entry = dataclasses.replace(
        entry,
        test_loss=scored.loss,
        metrics=classification_metrics(
            test.labels.tolist(), scored.predictions.tolist(), source.classes
        ),
        memory_format="channels_last" if trained.channels_last else "contiguous",
        test_images=len(test.labels),
        finished_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        history=trained.history,
    )
    out = workspace.paths.final(study)
    model_path = ModelFile(
        state_dict=trained.model.state_dict(),
        config=config_to_dict(cfg),
        classes=list(source.classes),
        resolution=cfg.data.resolution,
        in_chans=pool.images.shape[1],
        mean=list(trained.mean),
        std=list(trained.std),
        study=study,
        trial=best.number,
        **model_code(cfg.model.arch, record.space_file),
    ).save(out / "model.pt")
    previous = [r.to_dict(history=False) for r in runs]
    metrics_path = write_json(out / "metrics.json", {**entry.to_dict(), "previous_runs": previous})
    entry.add_to(the_study, runs)
    checkpoints.remove(FINAL)  # trained and scored: nothing left to resume
    _write_standalone(model_path)  # after the score is saved: it can only add a file
    # The upload for optuna-dashboard follows (automl.api.finalize, the CLI).
    return FinalResult(
        study, best.number, entry.run, entry.forced, entry.metrics, model_path, metrics_path
    )


def _say_pick(picked: Config, found: list[Config]) -> None:
    """Which configuration is retrained, and why that one when re-checks changed the order."""
    log.info("picked trial %d: validation accuracy %s", picked.trial, picked.describe())
    luckiest = max(found, key=lambda c: (c.values[0], -c.trial))
    if luckiest.trial != picked.trial:
        log.info(
            "trial %d had the best single run (%.4f), but its configuration's mean over %d "
            "run(s) is %.4f: the configuration with the best mean over its re-checks is retrained",
            luckiest.trial,
            luckiest.values[0],
            luckiest.runs,
            luckiest.value,
        )


def _given(
    study: str, number: int, trials: list, found: list[Config], objectives: Objectives
) -> Config:
    """The configuration of `--trial number`: a completed search trial, else a one-line
    refusal naming the ones it may be."""
    by_trial = {c.trial: c for c in found}
    if number in by_trial:
        return by_trial[number]
    numbers = sorted(by_trial)
    shown = ", ".join(map(str, numbers[:30])) + (", ..." if len(numbers) > 30 else "")
    if objectives.multi:
        members = ", ".join(str(p.trial) for p in study_front(trials, objectives))
        shown = f"the front's {members}, or any of {shown}"
    if not 0 <= number < len(trials):
        what = f"study {study!r} has no trial {number}"
    else:
        t, record = trials[number], TrialRecord.of(trials[number])
        state = state_name(t).lower()
        if record.recheck_of is not None and state == "complete":
            of = record.recheck_of
            raise StudyError(
                f"trial {number} re-checks trial {of}; pass --trial {of} (its configuration's "
                "mean counts both)"
            )
        why = record.pruned_reason or record.fail_reason
        what = f"trial {number} of study {study!r} was {state}" + (f" ({why})" if why else "")
        if state in ("running", "waiting"):
            what = f"trial {number} of study {study!r} has not finished"
    raise StudyError(f"{what}; --trial takes a completed trial: {shown}")


def _say_front(picked: Config, trials: list, objectives: Objectives) -> None:
    """Which member of a Pareto front is retrained (the most accurate), and the others."""
    members = study_front(trials, objectives)
    chosen = next(p for p in members if p.trial == picked.trial)
    log.info(
        "picked trial %d, the most accurate of the Pareto front's %d: validation accuracy %s, %s",
        chosen.trial, len(members), picked.describe(), objectives.show_cost(chosen.cost),
    )  # fmt: skip
    others = [p for p in members if p.trial != chosen.trial]
    if others:
        log.info(
            "the front's others (finalize --trial N retrains one): %s",
            "; ".join(
                f"#{p.trial} {p.accuracy:.4f}, {objectives.show_cost(p.cost)}" for p in others
            ),
        )


def _write_standalone(model_path: Path) -> None:
    """model.pt2 beside model.pt: prediction without automl's code (torch alone). Rebuilding
    from model.pt first also proves that file loads. A failure is a warning: model.pt stands."""
    from automl.exporting import write_standalone

    standalone = model_path.with_suffix(".pt2")
    standalone.unlink(missing_ok=True)  # a previous run's must not stand beside this model
    try:
        write_standalone(load_model(model_path, "cpu"), standalone, "pt2")
    except AutoMLError as exc:
        log.warning("no standalone %s: %s; model.pt is saved", standalone.name, exc)
