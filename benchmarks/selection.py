"""How much of a trial's value is noise, with the 80/20 split and with `--cv 5`?

(a) One fixed scratch_cnn configuration (the space's first portfolio entry, at batch 32 so
that a short run takes enough steps: 32 filters, BN, GELU, dropout 0.2, AdamW lr 2e-3, basic
augmentation) trained as one trial with 8 study seeds on hymenoptera's train/ at 64 px, each
seed drawing its own split (or folds) and initial weights, as a new study with that seed
would. Each seed's trial runs through automl's own Objective (the one a search runs: the
decoded cache, the study's split or folds), once with the 80/20 split and once with 5
folds. Printed: each seed's value, the standard deviation over the seeds of each way, their
ratio (goal: cv5 / split <= 0.6, and cv5's sd <= 2.0 points), the epochs each spent and the
wall time, under the machine's capability line.

(b) The whole loop, search -> finalize -> held-out accuracy, with 3 study seeds on the
built-in digits and on hymenoptera (64 px, val/ held out), three ways: a search without
either (`--recheck 0`, the 80/20 split), `--cv 5` (`--recheck 0`), and the default re-check
(`--recheck` left out: 3 on these small splits). Printed per dataset and way: the held-out
accuracy of the finalized model (mean and sd over the seeds), the epochs spent, the wall
time, and for the cv searches the pruned share of trials and the epochs the pruner saved
(against every trial running its K x epochs).

Usage: python benchmarks/selection.py [--part a|b|both] [--seeds 8] [--epochs 10]
           [--loop-seeds 3] [--trials 12] [--data DIR]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

import optuna  # noqa: E402
from common import CpuMeter, hymenoptera_config, machine_line, write_results  # noqa: E402

import automl  # noqa: E402
from automl.data import open_source  # noqa: E402
from automl.spaces import get_space  # noqa: E402
from automl.study.folds import fold_rows  # noqa: E402
from automl.study.objective import Objective  # noqa: E402
from automl.study.record import StudyRecord, TrialRecord  # noqa: E402
from automl.study.split import training_pool, validation_rows  # noqa: E402
from automl.train.precision import resolve_device, resolve_precision  # noqa: E402

HYMENOPTERA = REPO.parent / "shared" / "data" / "hymenoptera"
RESOLUTION = 64
CONFIG = hymenoptera_config(RESOLUTION)
WAYS = {"split 80/20": None, "cv 5": 5}


def one_value(source, pool, seed: int, epochs: int, cv: int | None, cache: Path) -> dict:
    """The value of the configuration's one trial in a study with this seed."""
    amp = resolve_precision("auto", resolve_device("auto"), cache)
    record = StudyRecord(  # what a new study with this seed would store
        space="scratch_cnn",
        space_file=None,
        data=source.name,
        test_dir=source.test_dir,
        data_fingerprint=source.fingerprint,
        classes=list(source.classes),
        channels=int(pool.images.shape[1]),
        epochs=epochs,
        seed=seed,
        split_seed=seed,
        val_indices=validation_rows(pool, seed, source.classes),
        resolution=RESOLUTION,
        decode_base=RESOLUTION,
        cv=cv,
        folds=fold_rows(pool, cv, seed, source.classes) if cv else [],
    )
    objective = Objective(get_space("scratch_cnn"), source, record, precision=amp, cache_dir=cache)
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.NopPruner())
    study.enqueue_trial(CONFIG)
    start = time.perf_counter()
    study.optimize(objective, n_trials=1)
    [trial] = study.trials
    record = TrialRecord.of(trial)
    return {
        "value": trial.value,
        "folds": record.fold_values,
        "epochs": record.epochs_run,
        "seconds": time.perf_counter() - start,
    }


LOOP_WAYS = {  # search options of each way of part (b)
    "neither": {"recheck": 0},
    "cv 5": {"cv": 5, "recheck": 0},
    "recheck (default)": {},
}


def loop_once(data: Path | None, seed: int, trials: int, way: dict, studies: Path) -> dict:
    """search -> finalize in a new studies folder: held-out accuracy, epochs, seconds."""
    where = (
        {} if data is None else {"data": data, "test_dir": data / "val", "resolution": RESOLUTION}
    )
    start = time.perf_counter()
    study = automl.search(
        "scratch_cnn", study="loop", trials=trials, seed=seed, studies_dir=studies, **where,
        **way,
    )  # fmt: skip
    final = automl.finalize("loop", studies_dir=studies)
    seconds = time.perf_counter() - start
    trials_ = study.get_trials(deepcopy=False)
    records = [TrialRecord.of(t) for t in trials_]
    searched = [(t, r) for t, r in zip(trials_, records, strict=True) if r.recheck_of is None]
    record = StudyRecord.from_study(study)
    return {
        "held_out": final.test_accuracy,
        "epochs": sum(int(r.epochs_run or 0) for r in records),
        "final_epochs": int(final.metrics.get("epochs", 0) or 0),
        "seconds": seconds,
        "recheck": record.recheck,
        "rechecks": len(trials_) - len(searched),
        "pruned": sum(t.state.name == "PRUNED" for t, _ in searched),
        "searched": len(searched),
        "search_epochs": sum(int(r.epochs_run or 0) for _, r in searched),
        "unpruned_epochs": len(searched) * record.epochs * (record.cv or 1),
        "picked": final.trial,
    }


def part_b(args) -> dict:
    found: dict[str, dict[str, list[dict]]] = {}
    datasets = {"digits": None, args.data.name: args.data}
    with CpuMeter() as load:
        for name, data in datasets.items():
            found[name] = {way: [] for way in LOOP_WAYS}
            for seed in range(args.loop_seeds):
                for way, options in LOOP_WAYS.items():
                    with tempfile.TemporaryDirectory() as tmp:
                        run = loop_once(data, seed, args.trials, options, Path(tmp))
                    found[name][way].append(run)
                    print(
                        f"{name:<12} seed {seed} {way:<18} held-out {run['held_out']:.4f}  "
                        f"{run['epochs']} epochs ({run['rechecks']} re-checks)  "
                        f"{run['seconds']:.0f} s",
                        flush=True,
                    )
    print(
        f"\n(b) search ({args.trials} trials, 10 epochs) -> finalize -> held-out accuracy, "
        f"{args.loop_seeds} seeds; other processes used {load.others:.1f} cores meanwhile"
    )
    print(f"  {'data':<12} {'way':<18} {'held-out mean':>13} {'sd':>6} {'vs neither':>10} "
          f"{'epochs':>7} {'wall s':>7}")  # fmt: skip
    for name, ways in found.items():
        base = statistics.fmean(r["held_out"] for r in ways["neither"])
        for way, runs in ways.items():
            acc = [r["held_out"] for r in runs]
            sd = statistics.stdev(acc) if len(acc) > 1 else 0.0
            print(
                f"  {name:<12} {way:<18} {statistics.fmean(acc):>13.4f} {100 * sd:>5.2f}p "
                f"{100 * (statistics.fmean(acc) - base):>+9.2f}p "
                f"{statistics.fmean(r['epochs'] for r in runs):>7.0f} "
                f"{statistics.fmean(r['seconds'] for r in runs):>7.0f}"
            )
        cv = ways["cv 5"]
        pruned = sum(r["pruned"] for r in cv) / max(1, sum(r["searched"] for r in cv))
        spent = sum(r["search_epochs"] for r in cv) / max(1, sum(r["unpruned_epochs"] for r in cv))
        print(
            f"  {name:<12} cv 5: {pruned:.0%} of trials pruned; the search spent {spent:.0%} of "
            f"the epochs its trials would without pruning ({1 - spent:.0%} saved)"
        )
    return {"machine": machine_line(), "trials": args.trials, "runs": found}


def part_a(args) -> dict:
    source = open_source(args.data, args.data / "val")
    found: dict[str, list[dict]] = {way: [] for way in WAYS}
    with tempfile.TemporaryDirectory() as tmp, CpuMeter() as load:
        cache = Path(tmp)
        pool = training_pool(source, RESOLUTION, cache, RESOLUTION, [])  # decoded once
        val_images = len(validation_rows(pool, 0, source.classes))
        for seed in range(args.seeds):  # the two ways alternate: both see the same load
            for way, cv in WAYS.items():
                run = one_value(source, pool, seed, args.epochs, cv, cache)
                found[way].append(run)
                print(
                    f"seed {seed} {way:<12} value {run['value']:.4f}  "
                    f"{run['epochs']} epochs {run['seconds']:.0f} s",
                    flush=True,
                )
    sd = {way: statistics.stdev(r["value"] for r in runs) for way, runs in found.items()}
    split, cv5 = sd["split 80/20"], sd["cv 5"]
    print(
        f"\nscratch_cnn PORTFOLIO[0] at batch 32, {args.seeds} seeds, {args.data.name} "
        f"({len(pool.labels)} training images) at {RESOLUTION} px, {args.epochs} epochs; "
        f"other processes used {load.others:.1f} cores meanwhile"
    )
    for way, runs in found.items():
        values = [r["value"] for r in runs]
        print(
            f"  {way:<12} mean {statistics.fmean(values):.4f}  sd {100 * sd[way]:.2f} points  "
            f"range {min(values):.3f} .. {max(values):.3f}  "
            f"epochs {sum(r['epochs'] for r in runs)}  wall {sum(r['seconds'] for r in runs):.0f} s"
        )
    print(
        f"  sd ratio cv5 / split = {cv5 / split:.2f} (goal <= 0.6); cv5 sd {100 * cv5:.2f} "
        f"points (goal <= 2.0); the split validates on {val_images} images"
    )
    return {"machine": machine_line(), "epochs": args.epochs, "runs": found, "sd": sd}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["a", "b", "both"], default="both")
    parser.add_argument("--seeds", type=int, default=8, help="(a) seeds")
    parser.add_argument("--epochs", type=int, default=10, help="(a) epochs")
    parser.add_argument("--loop-seeds", type=int, default=3, help="(b) seeds")
    parser.add_argument("--trials", type=int, default=12, help="(b) trials per search")
    parser.add_argument("--data", type=Path, default=HYMENOPTERA)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("automl").setLevel(logging.WARNING)
    print(machine_line())
    results = {}
    if args.part in ("a", "both"):
        results["a"] = part_a(args)
    if args.part in ("b", "both"):
        results["b"] = part_b(args)
    path = REPO / "benchmarks" / "results" / f"selection-{args.part}.json"
    write_results(path, results)


if __name__ == "__main__":
    main()
