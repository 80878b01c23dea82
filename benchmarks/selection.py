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

Usage: python benchmarks/selection.py [--seeds 8] [--epochs 4] [--data DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

import optuna  # noqa: E402
from common import CpuMeter, machine_line, write_results  # noqa: E402

from automl.data import open_source  # noqa: E402
from automl.spaces import get_space  # noqa: E402
from automl.study.folds import fold_rows  # noqa: E402
from automl.study.objective import Objective  # noqa: E402
from automl.study.record import StudyRecord, TrialRecord  # noqa: E402
from automl.study.split import training_pool, validation_rows  # noqa: E402
from automl.train.precision import resolve_device, resolve_precision  # noqa: E402

HYMENOPTERA = REPO.parent / "shared" / "data" / "hymenoptera"
RESOLUTION = 64
CONFIG = {  # search_spaces/scratch_cnn.py PORTFOLIO[0] at batch 32, every param pinned
    "base_filters": 32,
    "filter_org": "same",
    "kernel_size": 3,
    "activation": "gelu",
    "batch_norm": True,
    "dropout": 0.2,
    "dense_units": 128,
    "optimizer": "adamw",
    "lr": 2e-3,
    "weight_decay": 1e-4,
    "resolution": RESOLUTION,
    "batch_size": 32,
    "augment": "basic",
}
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--data", type=Path, default=HYMENOPTERA)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print(machine_line())
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
    write_results(
        REPO / "benchmarks" / "results" / "selection.json",
        {"machine": machine_line(), "epochs": args.epochs, "runs": found, "sd": sd},
    )


if __name__ == "__main__":
    main()
