"""Experiment tracking's cost: a trial's epoch with `--track mlflow|wandb|tensorboard` vs none.

1. In a search (the figure for the goal, at most 5% per epoch): `automl.search` of one fixed
   scratch_cnn configuration (the space's first portfolio entry at batch 32, every param
   pinned with `fix=`, so every mode trains the same model with the same seed) on
   hymenoptera's photos at 64 px, T trials of E epochs per search, `pruner="none"`,
   `recheck=0`, `portfolio=False`, in four modes: no tracking, mlflow, wandb, tensorboard.
   Each mode has its own new studies folder (under a temporary one) and a new study per
   round. The first folder's cache/ (decoded images, the machine's measurements) is copied
   into the others before their warm-up: the memory format a folder chose on its first
   trial is kept for its later ones, and folders that chose apart differ by more than any
   tracker. The modes take turns in a rotating order over R rounds after an uncounted
   warm-up round (one 1-epoch trial each: imports each tracker), so the machine's drift
   falls on all alike. Per mode:
   - s/epoch: the median over its trials of wall_time / epochs_run (the training loop,
     tracker calls included; a run's start and end are outside it); "vs none" its ratio to
     no tracking's, the goal's figure; "rounds": the same ratio within each round (median
     and range over the rounds: the in-search figure's noise);
   - epochs only: the median of the epochs' own "seconds" (train + eval, no tracker call):
     whether a tracker slows training itself (a thread or process of its own competing);
   - in-loop ms: the part of the loop that is not an epoch (wall_time minus the epochs'
     seconds and the model's build and probe: the trial's record, its checkpoint, and the
     tracker's per-epoch calls) per epoch; "extra ms" that above no tracking's, and "of
     epoch" as a share of no tracking's s/epoch: the tracker's own per-epoch cost, which
     training's noise hides far less;
   - search extra s: a whole search call minus its trials' wall times, above no tracking's:
     the tracker's open (per study and process), its T runs' start and end, its finish.
2. Directly, in a new process per tracker (nothing else running in it): the import of the
   tracker's library (torch and automl already imported), `Tracking.open` (MLflow: the new
   SQLite store, the study's experiment and parent run), the first run's start and end
   (W&B: its service starts), then the median over N more runs of a trial's start, its
   per-epoch call and its end, as automl.track.study makes them.
W&B runs offline (automl's default when not logged in), MLflow writes a SQLite file in the
study's folder and TensorBoard event files there; no environment variable is set.
Usage: python benchmarks/tracking.py [--quick] [--rounds R] [--trials T] [--epochs E]
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CpuMeter, hymenoptera_config, machine_line, write_results  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
HYMENOPTERA = REPO.parent / "shared/data/hymenoptera"
RESOLUTION = 64
CONFIG = hymenoptera_config(RESOLUTION)
NONE = "none"
TRACKERS = ("mlflow", "wandb", "tensorboard")
MODES = (NONE, *TRACKERS)
LIBRARY = {  # what each tracker imports on first use
    "mlflow": "mlflow",
    "wandb": "wandb",
    "tensorboard": "torch.utils.tensorboard",
}
# the product's behaviour depends on these; they are read, never set, here
PRODUCT_ENV = ("MLFLOW_TRACKING_URI", "WANDB_MODE", "WANDB_API_KEY", "WANDB_DIR", "WANDB_PROJECT")
GOAL = 0.05  # at most 5% per epoch


class Failures(logging.Handler):
    """Counts automl.track's warnings: a tracker that fails is left out, silently for a
    benchmark that only read the times."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def one_search(mode: str, folder: Path, study: str, trials: int, epochs: int) -> dict:
    """One search call in `mode`; its wall time and each trial's figures."""
    import automl
    from automl.study.record import TrialRecord

    track = None if mode == NONE else [mode]
    with CpuMeter() as meter:
        start = time.perf_counter()
        result = automl.search(
            "scratch_cnn",
            study=study,
            data=str(HYMENOPTERA),
            test_dir=str(HYMENOPTERA / "val"),
            trials=trials,
            epochs=epochs,
            track=track,
            fix=CONFIG,
            pruner="none",
            recheck=0,
            portfolio=False,
            studies_dir=str(folder),
        )
        wall = time.perf_counter() - start
    rows = []
    for trial in sorted(result.trials, key=lambda t: t.number):
        record = TrialRecord.of(trial)
        epochs_s = sum(row["seconds"] for row in record.history)
        parts = record.parts_seconds or {}
        rows.append(
            {
                "number": trial.number,
                "state": trial.state.name,
                "params": trial.params,
                "value": trial.value,
                "wall_time": record.wall_time,
                "epochs_run": record.epochs_run,
                "epochs_seconds": epochs_s,
                "epoch_seconds": [row["seconds"] for row in record.history],
                "memory_format": record.memory_format,
                "build_probe_seconds": parts.get("build", 0.0) + parts.get("probe", 0.0),
                "tracked": record.tracked,
            }
        )
    return {"mode": mode, "study": study, "wall": wall, "others": meter.others, "trials": rows}


def per_epoch(row: dict) -> float:
    return row["wall_time"] / row["epochs_run"]


def in_loop(row: dict) -> float:
    """Seconds per epoch of the training loop that are neither an epoch nor the model's build
    and probe: the trial's record and checkpoint, and the trackers' per-epoch calls."""
    rest = row["wall_time"] - row["epochs_seconds"] - row["build_probe_seconds"]
    return rest / row["epochs_run"]


def outside(search: dict) -> float:
    """A search call's seconds outside its trials' training loops."""
    return search["wall"] - sum(row["wall_time"] for row in search["trials"])


def direct(name: str, folder: Path, runs: int, epochs: int) -> dict:
    """In this (new) process: the tracker's import, open, first run, then N more runs."""
    import torch  # noqa: F401  (a search has both imported before any tracker)

    from automl.track import COMPLETED, StudyInfo, Tracking
    from automl.track.study import end_trial, epoch_scalars, trial_start

    importlib.import_module(f"automl.track.{name}_tracker")  # light; the library itself, next
    start = time.perf_counter()
    importlib.import_module(LIBRARY[name])
    imported = time.perf_counter() - start

    tags = {"space": "scratch_cnn", "data": str(HYMENOPTERA), "epochs": str(epochs)}
    start = time.perf_counter()
    tracking = Tracking.open([name], StudyInfo("bench", folder / "bench", tags))
    opened = time.perf_counter() - start
    row = {  # an epoch's history row as fit() makes it
        "epoch": 1, "train_loss": 0.69, "train_acc": 0.55, "lr": 2e-3, "seconds": 0.5,
        "train_seconds": 0.4, "val_loss": 0.68, "val_acc": 0.6, "val_f1_macro": 0.58,
        "val_f1_micro": 0.6, "eval_seconds": 0.1,
    }  # fmt: skip
    attrs = {  # what a finished trial's record holds when its run ends
        "params": 2.1e5, "trainable_params": 2.1e5, "flops": 3.2e7, "latency_ms": 1.9,
        "wall_time": 4.0, "epochs_run": epochs,
    }  # fmt: skip
    starts, ends, per_epoch_calls = [], [], []
    for number in range(runs + 1):  # run 0: the first, reported apart
        t0 = time.perf_counter()
        run = tracking.start(trial_start(number, dict(CONFIG), None, None))
        t1 = time.perf_counter()
        for step in range(1, epochs + 1):
            e0 = time.perf_counter()
            run.epoch(step, epoch_scalars(row | {"epoch": step}))
            per_epoch_calls.append((number, time.perf_counter() - e0))
        t2 = time.perf_counter()
        end_trial(run, attrs, COMPLETED, {"value": 0.6})
        t3 = time.perf_counter()
        starts.append(t1 - t0)
        ends.append(t3 - t2)
    start = time.perf_counter()
    tracking.finish()
    finished = time.perf_counter() - start
    return {
        "tracker": name,
        "live": bool(tracking) and not tracking.failed,
        "import_seconds": imported,
        "open_seconds": opened,
        "first_start_seconds": starts[0],
        "first_end_seconds": ends[0],
        "start_seconds": statistics.median(starts[1:]),
        "epoch_seconds": statistics.median(s for n, s in per_epoch_calls if n > 0),
        "end_seconds": statistics.median(ends[1:]),
        "finish_seconds": finished,
        "runs": runs,
        "epochs": epochs,
    }


def run_direct(name: str, runs: int, epochs: int) -> dict:
    """`direct` in a child process, in its own temporary folder."""
    with tempfile.TemporaryDirectory(prefix="automl-bench-track-") as tmp:
        out = subprocess.run(
            [sys.executable, __file__, "--direct", name, "--direct-dir", tmp,
             "--direct-runs", str(runs), "--epochs", str(epochs)],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def median_of(rows: list[dict], key) -> float:
    return statistics.median(key(row) for row in rows)


def epoch_only(row: dict) -> float:
    """Seconds per epoch of the epochs themselves (train + eval; no tracker call in them)."""
    return row["epochs_seconds"] / row["epochs_run"]


def summarise(searches: list[dict]) -> dict:
    by_mode = {m: [s for s in searches if s["mode"] == m] for m in MODES}
    trials = {m: [t for s in by_mode[m] for t in s["trials"]] for m in MODES}
    base_epoch = median_of(trials[NONE], per_epoch)
    base_only = median_of(trials[NONE], epoch_only)
    base_loop = median_of(trials[NONE], in_loop)
    base_outside = statistics.median(outside(s) for s in by_mode[NONE])
    rounds = sorted({s["round"] for s in searches})
    summary = {}
    for mode in MODES:
        paired = []  # per round: this mode's median s/epoch over no tracking's
        for r in rounds:
            mine = [per_epoch(t) for s in by_mode[mode] if s["round"] == r for t in s["trials"]]
            none = [per_epoch(t) for s in by_mode[NONE] if s["round"] == r for t in s["trials"]]
            paired.append(statistics.median(mine) / statistics.median(none))
        s_epoch = median_of(trials[mode], per_epoch)
        only = median_of(trials[mode], epoch_only)
        loop = median_of(trials[mode], in_loop)
        summary[mode] = {
            "trials": len(trials[mode]),
            "s_per_epoch": s_epoch,
            "ratio": s_epoch / base_epoch,
            "round_ratios": paired,
            "epoch_only_s": only,
            "epoch_only_ratio": only / base_only,
            "in_loop_ms_per_epoch": 1000 * loop,
            "in_loop_extra_ms": 1000 * (loop - base_loop),
            "in_loop_extra_share": (loop - base_loop) / base_epoch,
            "outside_s": statistics.median(outside(s) for s in by_mode[mode]),
            "outside_extra_s": statistics.median(outside(s) for s in by_mode[mode]) - base_outside,
            "others": statistics.mean(s["others"] for s in by_mode[mode]),
            "memory_formats": sorted({str(t["memory_format"]) for t in trials[mode]}),
            "tracked_every_trial": all(
                mode == NONE or mode in t.get("tracked", {}) for t in trials[mode]
            ),
        }
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8, help="R: rounds of the four modes")
    parser.add_argument("--trials", type=int, default=3, help="T: trials per search")
    parser.add_argument("--epochs", type=int, default=4, help="E: epochs per trial")
    parser.add_argument(
        "--runs", type=int, default=10, help="N: runs per tracker timed directly (+ the first)"
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 round, 1 trial, 2 ep.")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/tracking.json")
    parser.add_argument("--direct", choices=TRACKERS, help=argparse.SUPPRESS)  # the child
    parser.add_argument("--direct-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--direct-runs", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.direct:
        print(json.dumps(direct(args.direct, args.direct_dir, args.direct_runs, args.epochs)))
        return
    if args.quick:
        args.rounds, args.trials, args.epochs, args.runs = 1, 1, 2, 3
    if not HYMENOPTERA.is_dir():
        parser.error(f"hymenoptera not found at {HYMENOPTERA}")

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("automl").setLevel(logging.ERROR)  # the search's own lines
    failures = Failures()
    track_log = logging.getLogger("automl.track")
    track_log.setLevel(logging.WARNING)  # a tracker that fails says so, and is counted
    track_log.addHandler(failures)

    machine = machine_line()
    print(machine, flush=True)
    given = [k for k in PRODUCT_ENV if os.environ.get(k)]
    if given:
        print(f"note: {', '.join(given)} set in the environment: the trackers follow it")
    print(
        f"hymenoptera train/ at {RESOLUTION} px, scratch_cnn PORTFOLIO[0] at batch 32 pinned; "
        f"{args.rounds} rounds x 4 modes (rotating) x {args.trials} trials x {args.epochs} "
        "epochs, after a warm-up round; pruner none, recheck 0, no portfolio",
        flush=True,
    )
    searches: list[dict] = []
    started = time.perf_counter()
    with CpuMeter() as meter, tempfile.TemporaryDirectory(prefix="automl-bench-track-") as tmp:
        folders = {mode: Path(tmp) / mode for mode in MODES}  # a new studies folder per mode
        for mode in MODES:  # warm-up: decodes the images, imports each tracker
            if mode != NONE:  # the same decoded images and machine measurements (precision,
                # memory format) as the first folder's: every mode trains in the same layout
                shutil.copytree(folders[NONE] / "cache", folders[mode] / "cache")
            one_search(mode, folders[mode], "warmup", 1, 1)
        print(f"warm-up round: {time.perf_counter() - started:.0f} s", flush=True)
        for r in range(args.rounds):
            order = MODES[r % len(MODES) :] + MODES[: r % len(MODES)]
            for mode in order:
                search = one_search(mode, folders[mode], f"round{r}", args.trials, args.epochs)
                search["round"] = r
                searches.append(search)
                epochs = ", ".join(f"{per_epoch(t):.3f}" for t in search["trials"])
                print(
                    f"round {r} {mode:11} s/epoch {epochs}; search {search['wall']:.1f} s; "
                    f"others {search['others']:.2f} cores",
                    flush=True,
                )
        direct_rows = {name: run_direct(name, args.runs, args.epochs) for name in TRACKERS}
    whole = time.perf_counter() - started
    summary = summarise(searches)
    same = len({json.dumps(t["params"], sort_keys=True) for s in searches for t in s["trials"]})

    count = sum(len(s["trials"]) for s in searches)
    layouts = sorted({f for row in summary.values() for f in row["memory_formats"]})
    print(
        f"\nwhole run: {whole / 60:.1f} min; other processes used {meter.others:.2f} cores "
        f"meanwhile; {same} distinct param set(s) over all {count} trials, memory format "
        f"{' and '.join(layouts)}; tracker warnings: {len(failures.messages)}"
    )
    for message in failures.messages:
        print(f"  {message}")
    print(machine)
    print(
        f"per epoch, in a search (median of {args.rounds * args.trials} trials; "
        f"{args.epochs} epochs each):"
    )
    print(
        f"  {'mode':11} {'s/epoch':>7} {'vs none':>8} {'rounds: median, range':>21} "
        f"{'epochs only':>11} {'vs none':>8} {'in-loop ms':>10} {'extra ms':>8} "
        f"{'of epoch':>8} {'search extra s':>14} {'others':>6}"
    )
    for mode, row in summary.items():
        ratios = row["round_ratios"]
        tracked = mode == NONE or row["tracked_every_trial"]
        extra = "" if mode == NONE else format(row["in_loop_extra_ms"], "+.1f")
        share = "" if mode == NONE else format(row["in_loop_extra_share"], "+.1%")
        fixed = "" if mode == NONE else format(row["outside_extra_s"], "+.2f")
        spread = f"{statistics.median(ratios):.3f}x, {min(ratios):.2f}-{max(ratios):.2f}"
        print(
            f"  {mode:11} {row['s_per_epoch']:7.3f} {row['ratio']:7.3f}x {spread:>21} "
            f"{row['epoch_only_s']:11.3f} {row['epoch_only_ratio']:7.3f}x "
            f"{row['in_loop_ms_per_epoch']:10.1f} {extra:>8} {share:>8} {fixed:>14} "
            f"{row['others']:6.2f}" + ("" if tracked else "  (some trials NOT tracked)")
        )
    print(
        f"directly, a new process per tracker ({args.runs} runs of {args.epochs} epochs "
        "after the first; start/epoch/end: medians):"
    )
    print(
        f"  {'tracker':11} {'import s':>8} {'open s':>7} {'1st start s':>11} {'1st end s':>9} "
        f"{'start ms':>8} {'epoch ms':>8} {'end ms':>7} {'finish ms':>9}"
    )
    for name, d in direct_rows.items():
        print(
            f"  {name:11} {d['import_seconds']:8.2f} {d['open_seconds']:7.2f} "
            f"{d['first_start_seconds']:11.2f} {d['first_end_seconds']:9.2f} "
            f"{1000 * d['start_seconds']:8.1f} {1000 * d['epoch_seconds']:8.2f} "
            f"{1000 * d['end_seconds']:7.1f} {1000 * d['finish_seconds']:9.1f}"
            + ("" if d["live"] else "  (the tracker FAILED)")
        )
    for name in TRACKERS:
        row = summary[name]
        over = row["ratio"] - 1
        print(
            f"{name}: {over:+.1%} per epoch in a search (rounds' median "
            f"{statistics.median(row['round_ratios']) - 1:+.1%}; the epochs alone "
            f"{row['epoch_only_ratio'] - 1:+.1%}; its calls in the loop "
            f"{row['in_loop_extra_share']:+.1%}, directly "
            f"{1000 * direct_rows[name]['epoch_seconds']:.1f} ms an epoch): goal <= "
            f"{GOAL:.0%} {'met' if over <= GOAL else 'NOT met'}"
        )
    write_results(
        args.out,
        {
            "machine": machine,
            "config": CONFIG,
            "rounds": args.rounds,
            "trials": args.trials,
            "epochs": args.epochs,
            "runs": args.runs,
            "wall_minutes": whole / 60,
            "other_cores": meter.others,
            "tracker_warnings": failures.messages,
            "summary": summary,
            "direct": direct_rows,
            "searches": searches,
        },
    )


if __name__ == "__main__":
    main()
