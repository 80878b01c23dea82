"""Wall time of the same study with `--workers 1` and `--workers 2` (one machine).

The same 24-trial scratch_cnn study on the built-in digits (3 epochs, 32 px, seed 0), run
from scratch with 1 worker (all cores) and with 2 workers (half the cores each), each
through the `automl search` command in its own studies folder. By default the random
sampler without pruning: trial k's params depend only on (seed, k), so both runs train the
very same 24 configs for the same epochs and the times compare like for like (`--sampler
tpe --pruner hyperband` for the default search, whose configs then differ between runs).
Prints the wall time, the trials and epochs each ran, and the ratio; goal: 2 workers no
slower than 1.
Usage: python benchmarks/workers.py [--trials 24] [--epochs 3] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
from optuna.trial import TrialState

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CpuMeter, machine_line  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def run(workers: int, args: argparse.Namespace, folder: Path) -> dict:
    command = [
        sys.executable, "-m", "automl", "search", "--study", "bench", "--trials",
        str(args.trials), "--epochs", str(args.epochs), "--resolution", "32", "--workers",
        str(workers), "--sampler", args.sampler, "--pruner", args.pruner,
        "--studies-dir", str(folder),
    ]  # fmt: skip
    with CpuMeter() as cpu:
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"--workers {workers} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    study = optuna.load_study(study_name="bench", storage=f"sqlite:///{folder / 'bench.db'}")
    trials_ = study.get_trials(deepcopy=False)
    params = [json.dumps(t.params, sort_keys=True) for t in trials_]
    return {
        "workers": workers,
        "seconds": seconds,
        "finished": sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials_),
        "epochs": sum(len(t.intermediate_values) for t in trials_),
        "duplicates": len(params) - len(set(params)),
        "best": study.best_value,
        "others_cores": cpu.others,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--sampler", default="random")
    parser.add_argument("--pruner", default="none")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/workers.json")
    args = parser.parse_args()
    print(machine_line())
    rows = []
    for workers in args.workers:
        with tempfile.TemporaryDirectory(prefix="automl-bench-workers-") as tmp:
            rows.append(run(workers, args, Path(tmp)))
    base = rows[0]["seconds"]
    print(
        f"{args.trials}-trial digits study, {args.epochs} epochs, 32 px, from scratch, "
        f"--sampler {args.sampler} --pruner {args.pruner}:"
    )
    print(f"{'workers':>7}  {'wall s':>7}  {'finished':>8}  {'epochs':>6}  {'dupes':>5}  "
          f"{'best val':>8}  {'vs 1 worker':>11}  {'others':>6}")  # fmt: skip
    for r in rows:
        print(
            f"{r['workers']:>7}  {r['seconds']:>7.1f}  {r['finished']:>8}  {r['epochs']:>6}  "
            f"{r['duplicates']:>5}  {r['best']:>8.4f}  {r['seconds'] / base:>10.2f}x  "
            f"{r['others_cores']:>6.1f}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {"machine": machine_line(), "sampler": args.sampler, "pruner": args.pruner}
    args.out.write_text(json.dumps({**report, "rows": rows}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
