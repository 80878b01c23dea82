"""Does automl's default search find a better model for the same compute than a plain sweep?

Same space (scratch_cnn), same data, same epoch budget B = N trials x E epochs, 3 seeds each:

- random:    random sampler, no pruning: the seeds' W&B random sweep
- tpe:       TPE, no pruning: plain Optuna
- default:   automl's default, TPE + Hyperband, portfolio off
- portfolio: automl's default with its portfolio of known-good first trials

Strategies with pruning run more trials until they have spent B epochs (a study resumed with
more trials). On the built-in digits (resolution 32) and on hymenoptera at 64 px. Printed:
best validation accuracy after the budget (mean ± spread over seeds), epochs, wall time, and
for each automl strategy the ratio "epochs it needs to reach the random sweep's final best /
epochs the random sweep used" (same seed), goal <= 0.35. Drawn: best-so-far vs epochs.

The 24 runs go to `--jobs` processes (default: one per core), each training on one thread,
so every strategy's wall time is measured alike.

Usage: python benchmarks/search_efficiency.py [--quick] [--trials N] [--epochs E] [--jobs J]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine_line  # noqa: E402

import automl  # noqa: E402

STRATEGIES = {
    "random": {"sampler": "random", "pruner": "none", "portfolio": False},
    "tpe": {"sampler": "tpe", "pruner": "none", "portfolio": False},
    "default": {"sampler": "tpe", "pruner": "hyperband", "portfolio": False},
    "portfolio": {"sampler": "tpe", "pruner": "hyperband", "portfolio": True},
}
HYMENOPTERA = REPO.parent / "shared" / "data" / "hymenoptera"


def datasets(quick: bool) -> dict[str, dict]:
    found = {"digits": {}}
    if HYMENOPTERA.is_dir() and not quick:
        found["hymenoptera"] = {
            "data": HYMENOPTERA,
            "test_dir": HYMENOPTERA / "val",
            "resolution": 64,
        }
    return found


def curve(study) -> list[tuple[int, float]]:
    """(cumulative epochs, best completed val_acc so far) after each trial, in trial order."""
    points, spent, best = [], 0, 0.0
    for t in sorted(study.trials, key=lambda t: t.number):
        spent += int(t.user_attrs.get("epochs_run", 0))
        if t.state.name == "COMPLETE":
            best = max(best, t.value)
        points.append((spent, best))
    return points


def run(name: str, where: dict, strategy: str, seed: int, args, tmp: str) -> dict:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    budget = args.trials * args.epochs
    settings = {
        **STRATEGIES[strategy],
        **where,
        "study": name,
        "epochs": args.epochs,
        "seed": seed,
        "studies_dir": tmp,
        "threads": args.threads,
    }
    trials, start = args.trials, time.perf_counter()
    while True:
        study = automl.search("scratch_cnn", trials=trials, **settings)
        spent = curve(study)[-1][0]
        if spent >= budget:
            break
        trials += math.ceil((budget - spent) / args.epochs)  # enough if none is pruned
    points = curve(study)
    return {"points": points, "wall": time.perf_counter() - start, "trials": len(points)}


def epochs_to_reach(points: list[tuple[int, float]], target: float) -> float:
    return next((spent for spent, best in points if best >= target), math.inf)


def spread(values: list[float]) -> str:
    mean = statistics.mean(values)
    half = (max(values) - min(values)) / 2
    return f"{mean:.4f} ± {half:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--trials",
        type=int,
        default=10,
        help="N: trials of the plain sweeps (10: the run fits in 20 min on 2 cores)",
    )
    parser.add_argument("--epochs", type=int, default=4, help="E: epochs per trial")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="digits only, 1 seed, 6 trials")
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="runs at once, one thread each"
    )
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results")
    args = parser.parse_args()
    if args.quick:
        args.trials, args.seeds = 6, 1
    args.threads = 1 if args.jobs > 1 else None  # None: every core for the one run
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    machine = machine_line()
    print(machine, flush=True)
    started = time.perf_counter()
    results: dict[str, dict[str, list[dict]]] = {}
    places = datasets(args.quick)
    runs = [
        (ds, strategy, seed)
        for ds in places
        for strategy in STRATEGIES
        for seed in range(args.seeds)
    ]
    with (
        tempfile.TemporaryDirectory(prefix="automl-bench-search-") as tmp,
        ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool,
    ):
        futures = {
            (ds, strategy, seed): pool.submit(
                run, f"{ds}-{strategy}-{seed}", places[ds], strategy, seed, args, tmp
            )
            for ds, strategy, seed in runs
        }
        for (ds, strategy, seed), future in futures.items():
            row = future.result()
            results.setdefault(ds, {}).setdefault(strategy, []).append(row)
            print(
                f"{ds:12} {strategy:9} seed {seed}: best {row['points'][-1][1]:.4f} "
                f"after {row['points'][-1][0]} epochs, {row['trials']} trials, "
                f"{row['wall']:.0f} s",
                flush=True,
            )
    print(f"whole run: {(time.perf_counter() - started) / 60:.1f} min, {args.jobs} jobs")
    budget = args.trials * args.epochs
    print(f"\nbudget: {budget} epochs ({args.trials} trials x {args.epochs} epochs), "
          f"{args.seeds} seeds; mean ± half-range")  # fmt: skip
    header = f"{'data':12} {'strategy':9} {'best val_acc':>17} {'epochs':>7} {'trials':>6} "
    print(header + f"{'wall s':>7}  {'epochs to random best / random epochs':>38}")
    summary = {}
    for ds, by_strategy in results.items():
        targets = [r["points"][-1][1] for r in by_strategy["random"]]
        used = [r["points"][-1][0] for r in by_strategy["random"]]
        for strategy, rows in by_strategy.items():
            ratios = [
                epochs_to_reach(r["points"], t) / u
                for r, t, u in zip(rows, targets, used, strict=True)
            ]
            reached = [x for x in ratios if math.isfinite(x)]
            ratio = (
                f"{statistics.mean(reached):.2f} (reached {len(reached)}/{len(ratios)})"
                if reached
                else f"not reached (0/{len(ratios)})"
            )
            best = spread([r["points"][-1][1] for r in rows])
            epochs = statistics.mean(r["points"][-1][0] for r in rows)
            trials = statistics.mean(r["trials"] for r in rows)
            wall = statistics.mean(r["wall"] for r in rows)
            print(
                f"{ds:12} {strategy:9} {best:>17} {epochs:7.0f} {trials:6.1f} {wall:7.0f}  "
                f"{'-' if strategy == 'random' else ratio:>38}"
            )
            summary[f"{ds}/{strategy}"] = {"best": best, "ratios": ratios, "epochs": epochs}
    args.out.mkdir(parents=True, exist_ok=True)
    png = args.out / "search_efficiency.png"
    draw(results, png, budget)
    (args.out / "search_efficiency.json").write_text(
        json.dumps({"machine": machine, "summary": summary, "results": results}, indent=1)
    )
    print(f"wrote {png}")


def draw(results: dict, png: Path, budget: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"random": "tab:gray", "tpe": "tab:blue", "default": "tab:orange"}
    colors["portfolio"] = "tab:green"
    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4.2), squeeze=False)
    for ax, (ds, by_strategy) in zip(axes[0], results.items(), strict=True):
        for strategy, rows in by_strategy.items():
            for i, row in enumerate(rows):
                xs, ys = zip(*row["points"], strict=True)
                ax.step(xs, ys, where="post", color=colors[strategy], alpha=0.8,
                        label=strategy if i == 0 else None)  # fmt: skip
        ax.axvline(budget, color="black", lw=0.8, ls=":")
        ax.set(title=ds, xlabel="cumulative epochs", ylabel="best validation accuracy so far")
        ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(png, dpi=110)


if __name__ == "__main__":
    main()
