"""Accuracy against size: how good a front does each sampler draw, and does pruning keep it?

A two-objective search (`--objective accuracy,params`) of the scratch_cnn space, the same
epoch budget B = N trials x E epochs for every method, several seeds each:

- random:      random sampler, no pruning, no portfolio (a plain random sweep)
- tpe:         TPE, no pruning
- nsga2:       NSGA-II, no pruning
- tpe+pareto:  automl's default for two objectives, TPE with its Pareto pruner (pareto.py)

All but random run the space's portfolio first (automl's default); `--recheck 0` everywhere,
so no re-check spends epochs outside the budget. The pruned method resumes its study with more
trials until its epochs (the sum of every trial's `epochs_run`, pruned ones included) reach B,
stopping at the first step that reaches or passes it.

Scored on the built-in digits (32 px) and hymenoptera at 64 px: the hypervolume of the front
of the completed trials in (validation accuracy, log10 params), from the reference point
(chance accuracy, 1 / classes; log10 of the largest model any run of that dataset trained
+ 0.1), the same for every method and seed of a dataset (a model no better than a guess adds
nothing; the JSON also holds `hv_zero`, from accuracy 0); the front's size; epochs spent;
completed and pruned trials; wall time. Drawn: each method's front on seed 0, one panel per dataset.

The runs go to `--jobs` processes (default: one per core), each training on one thread.

Usage: python benchmarks/pareto.py [--datasets digits,hymenoptera] [--seeds 3]
           [--trials N] [--epochs E] [--methods random,tpe,nsga2,tpe+pareto] [--jobs J]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import statistics
import sys
import tempfile
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import CpuMeter, machine_line, write_results  # noqa: E402

OBJECTIVE = ("accuracy", "params")
METHODS = {
    "random": {"sampler": "random", "pruner": "none", "portfolio": False},
    "tpe": {"sampler": "tpe", "pruner": "none", "portfolio": True},
    "nsga2": {"sampler": "nsga2", "pruner": "none", "portfolio": True},
    "tpe+pareto": {"sampler": "tpe", "pruner": "pareto", "portfolio": True},
}
HYMENOPTERA = REPO.parent / "shared" / "data" / "hymenoptera"
# where, the default trials of an unpruned run (the whole run fits in ~40 min on 2 quiet
# AVX2 cores: an epoch of 1 thread costs 2-30 s here, by model), and the classes
DATASETS = {
    "digits": ({}, 12, 10),
    "hymenoptera": (
        {"data": str(HYMENOPTERA), "test_dir": str(HYMENOPTERA / "val"), "resolution": 64},
        10,
        2,  # ants, bees
    ),
}
REFERENCE_MARGIN = 0.1  # log10 params beyond the largest model: it still adds a sliver


def run(dataset: str, method: str, seed: int, trials: int, epochs: int, tmp: str) -> dict:
    """One search; a pruned method is resumed with more trials until it spent the budget."""
    import optuna

    import automl
    from automl.study.objectives import Objectives
    from automl.study.pareto import study_points

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("automl").setLevel(logging.ERROR)
    budget = trials * epochs
    settings = {
        **METHODS[method],
        **DATASETS[dataset][0],
        "objective": OBJECTIVE,
        "study": f"{dataset}-{method}-{seed}",
        "epochs": epochs,
        "seed": seed,
        "recheck": 0,
        "studies_dir": tmp,
        "threads": 1,
    }
    target, steps, start = trials, 0, time.perf_counter()
    while True:
        study = automl.search("scratch_cnn", trials=target, **settings)
        steps += 1
        spent = sum(int(t.user_attrs.get("epochs_run") or 0) for t in study.trials)
        if spent >= budget or METHODS[method]["pruner"] == "none":
            break
        target += math.ceil((budget - spent) / epochs)  # just enough if none is pruned
    wall = time.perf_counter() - start
    states = [t.state.name for t in study.trials]
    points = study_points(study.trials, Objectives.parse(OBJECTIVE))
    return {
        "points": [[p.trial, p.accuracy, p.cost] for p in points],  # cost: params
        "trials_run": [  # in the order they ran: [number, state, epochs_run]
            [t.number, t.state.name, int(t.user_attrs.get("epochs_run") or 0)]
            for t in sorted(study.trials, key=lambda t: t.number)
        ],
        "epochs": spent,
        "budget": budget,
        "complete": states.count("COMPLETE"),
        "pruned": states.count("PRUNED"),
        "failed": states.count("FAIL"),
        "searches": steps,
        "wall": wall,
    }


def log_front(rows: list[list[float]]):
    """The Pareto front of (trial, accuracy, params) rows, in (accuracy, log10 params)."""
    from automl.study.pareto import Point, front

    return front(Point(int(n), a, math.log10(c)) for n, a, c in rows)


def within_budget(r: dict) -> list[list[float]]:
    """The points of the trials that ran before the run's epochs passed its budget: a pruned
    run's last step may overshoot it by up to E - 1 epochs."""
    if "trials_run" not in r:  # an unpruned run reused from a file that did not keep them
        return r["points"]
    spent, kept = 0, set()
    for number, _, epochs in r["trials_run"]:
        spent += epochs
        if spent > r["budget"]:
            break
        kept.add(number)
    return [row for row in r["points"] if row[0] in kept]


def score(results: dict) -> dict:
    """Per dataset: the reference point, and each run's hypervolume and front. The reference
    accuracy is chance (1 / classes): a model no better than a guess adds nothing; `hv_zero`
    is the same from accuracy 0, where a tiny model at chance adds a wide band; `hv_budget`
    counts only the trials within the budget (a pruned run's last step can pass it)."""
    from automl.study.pareto import hypervolume

    scored = {}
    for ds, by_method in results.items():
        largest = max(c for rows in by_method.values() for r in rows for _, _, c in r["points"])
        cost = math.log10(largest) + REFERENCE_MARGIN
        reference = (1 / DATASETS[ds][2], cost)
        for rows in by_method.values():
            for r in rows:
                kept = log_front(r["points"])
                r["hv"] = hypervolume(kept, reference)
                r["hv_budget"] = hypervolume(log_front(within_budget(r)), reference)
                r["hv_zero"] = hypervolume(kept, (0.0, cost))
                r["front"] = [[p.trial, p.accuracy, 10**p.cost] for p in kept]
        scored[ds] = {"reference": reference, "largest_params": largest}
    return scored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0 .. S-1")
    parser.add_argument(
        "--trials",
        type=int,
        default=None,
        help="N: trials of an unpruned run, every dataset "
        f"(default: {', '.join(f'{d} {n}' for d, (_, n, _) in DATASETS.items())})",
    )
    parser.add_argument("--epochs", type=int, default=4, help="E: epochs per trial")
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="runs at once, one thread each"
    )
    parser.add_argument(
        "--out", type=Path, default=REPO / "benchmarks/results/pareto.json", help="the JSON"
    )
    parser.add_argument(
        "--reuse",
        type=Path,
        default=None,
        help="a results file of an earlier run: its runs of the same sizes are taken as they "
        "are (their wall times too), the others run (pruned ones without their trials' order "
        "run again)",
    )
    parser.add_argument(
        "--figure",
        type=Path,
        default=REPO / "benchmarks/figures/pareto_fronts.png",
        help="seed 0's fronts",
    )
    args = parser.parse_args()
    names = [d for d in args.datasets.split(",") if d]
    methods = [m for m in args.methods.split(",") if m]
    for given, known in ((names, DATASETS), (methods, METHODS)):
        unknown = [x for x in given if x not in known]
        if unknown:
            parser.error(f"unknown {', '.join(unknown)}; choose from {', '.join(known)}")
    if "hymenoptera" in names and not HYMENOPTERA.is_dir():
        parser.error(f"hymenoptera not found at {HYMENOPTERA}")
    trials = {d: args.trials or DATASETS[d][1] for d in names}

    machine = machine_line()
    print(machine, flush=True)
    print(
        "objective accuracy,params, scratch_cnn, recheck 0; "
        + "; ".join(f"{d}: {trials[d]} trials x {args.epochs} epochs" for d in names)
        + f"; seeds {args.seeds}; {args.jobs} jobs of 1 thread",
        flush=True,
    )
    runs = [(d, m, s) for d in names for s in range(args.seeds) for m in methods]
    keys = list(runs)
    results: dict[str, dict[str, list[dict]]] = {
        d: {m: [None] * args.seeds for m in methods} for d in names
    }
    if args.reuse:  # an earlier run's rows of the same sizes (epochs per trial, budget); a
        # pruned run's only if it kept its trials' order, which its HV<=B needs
        earlier = json.loads(args.reuse.read_text())
        for ds, method, seed in list(runs):
            old = earlier["results"].get(ds, {}).get(method, [])
            row = old[seed] if seed < len(old) else None
            if (
                row
                and earlier["epochs"] == args.epochs
                and row["budget"] == trials[ds] * args.epochs
                and ("trials_run" in row or METHODS[method]["pruner"] == "none")
            ):
                results[ds][method][seed] = row
                runs.remove((ds, method, seed))
        print(f"reused from {args.reuse}: {len(keys) - len(runs)} runs; running {len(runs)}")
    started = time.perf_counter()
    with (
        CpuMeter() as meter,
        tempfile.TemporaryDirectory(prefix="automl-bench-pareto-") as tmp,
        ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool,
    ):
        futures = {key: pool.submit(run, *key, trials[key[0]], args.epochs, tmp) for key in runs}
        for (ds, method, seed), future in futures.items():
            try:
                row = future.result()
            except Exception as exc:  # a bug in the search: say so, keep the other runs
                print(f"{ds:12} {method:10} seed {seed}: FAILED {type(exc).__name__}: {exc}")
                traceback.print_exception(exc)  # with the worker's own, as its __cause__
                continue
            results[ds][method][seed] = row
            print(
                f"{ds:12} {method:10} seed {seed}: {row['epochs']} epochs, "
                f"{row['complete']} complete / {row['pruned']} pruned, {row['wall']:.0f} s",
                flush=True,
            )
    whole = time.perf_counter() - started
    results = {
        d: {m: rows for m, rows in by.items() if all(r is not None for r in rows)}
        for d, by in results.items()
    }
    scored = score(results)
    print(
        f"\nwhole run: {whole / 60:.1f} min, {args.jobs} jobs; other processes used "
        f"{meter.others:.1f} cores meanwhile"
        + (f" (the {len(runs)} runs it ran; reused ones keep their wall s)" if args.reuse else "")
    )
    print(
        "HV: hypervolume of the front in (val accuracy, log10 params) from the reference "
        f"(chance, log10(largest params) + {REFERENCE_MARGIN}); HV<=B: of the trials that "
        "ran within the budget B; epochs: all trials' epochs_run"
    )
    summary = {}
    for ds, by_method in results.items():
        ref = scored[ds]["reference"]
        print(
            f"\n{ds}: budget {trials[ds] * args.epochs} epochs ({trials[ds]} trials x "
            f"{args.epochs}); reference ({ref[0]:g}, {ref[1]:.3f}): chance, "
            f"{scored[ds]['largest_params']:,.0f}"
            f" params x {10**REFERENCE_MARGIN:.2f}"
        )
        print(
            f"  {'method':10} {'seed':>4} {'HV':>7} {'HV<=B':>7} {'front':>5} {'epochs':>6} "
            f"{'complete/pruned':>15} {'wall s':>7}"
        )
        for method, rows in by_method.items():
            for seed, r in enumerate(rows):
                trials_done = f"{r['complete']}/{r['pruned']}"
                print(
                    f"  {method:10} {seed:>4} {r['hv']:7.4f} {r['hv_budget']:7.4f} "
                    f"{len(r['front']):5d} "
                    f"{r['epochs']:6d} {trials_done:>15} {r['wall']:7.0f}"
                )
        print("  mean over seeds (± half-range of HV)")
        for method, rows in by_method.items():
            hvs = [r["hv"] for r in rows]
            within = statistics.mean(r["hv_budget"] for r in rows)
            half = (max(hvs) - min(hvs)) / 2
            mean = {
                k: statistics.mean(r[k] for r in rows)
                for k in ("epochs", "complete", "pruned", "wall")
            }
            front_size = statistics.mean(len(r["front"]) for r in rows)
            print(
                f"  {method:10} {'mean':>4} {statistics.mean(hvs):7.4f} ±{half:.4f} "
                f"(<=B {within:.4f}) "
                f"front {front_size:4.1f} epochs {mean['epochs']:5.1f} "
                f"{mean['complete']:4.1f}/{mean['pruned']:4.1f} {mean['wall']:7.0f} s"
            )
            summary[f"{ds}/{method}"] = {
                "hv_mean": statistics.mean(hvs),
                "hv_half_range": half,
                "hv_budget_mean": within,
                "hv": hvs,
                "front_size": front_size,
                **mean,
            }
        for a, b in (("tpe+pareto", "tpe"), ("nsga2", "tpe")):
            if a in by_method and b in by_method:
                for seed, (ra, rb) in enumerate(zip(by_method[a], by_method[b], strict=True)):
                    print(
                        f"  seed {seed}: HV({a}) {ra['hv']:.4f} "
                        f"{'>=' if ra['hv'] >= rb['hv'] else '< '} HV({b}) {rb['hv']:.4f} "
                        f"({ra['hv'] - rb['hv']:+.4f}; epochs {ra['epochs']} vs {rb['epochs']}; "
                        f"within the budget {ra['hv_budget'] - rb['hv_budget']:+.4f})"
                    )
    write_results(
        args.out,
        {
            "machine": machine,
            "epochs": args.epochs,
            "trials": trials,
            "seeds": args.seeds,
            "jobs": args.jobs,
            "methods": {m: METHODS[m] for m in methods},
            "reference_margin_log10": REFERENCE_MARGIN,
            "wall_minutes": whole / 60,
            "reused_from": str(args.reuse) if args.reuse else None,
            "ran": [list(key) for key in runs],
            "other_cores": meter.others,
            "scored": scored,
            "summary": summary,
            "results": results,
        },
    )
    draw(results, scored, args.figure)


def draw(results: dict, scored: dict, png: Path) -> None:
    """Seed 0's front of each method, one panel per dataset; faint dots: its other trials."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"random": "tab:gray", "tpe": "tab:blue", "nsga2": "tab:green"}
    colors["tpe+pareto"] = "tab:orange"
    # fronts that coincide stay visible: tpe wide and pale beneath, tpe+pareto dashed on top
    styles = {m: {"lw": 1.5, "ls": "-", "alpha": 0.9} for m in colors}
    styles["tpe"] = {"lw": 4.5, "ls": "-", "alpha": 0.45}
    styles["tpe+pareto"] = {"lw": 1.8, "ls": "--", "alpha": 1.0}
    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4.4), squeeze=False)
    for ax, (ds, by_method) in zip(axes[0], results.items(), strict=True):
        for method, rows in by_method.items():
            r = rows[0]
            ax.scatter([c for _, _, c in r["points"]], [a for _, a, _ in r["points"]], s=12,
                       color=colors[method], alpha=0.35, linewidths=0)  # fmt: skip
            xs = [c for _, _, c in r["front"]]
            ys = [a for _, a, _ in r["front"]]
            ax.step(xs, ys, where="post", color=colors[method], marker="o", ms=4,
                    label=f"{method} (HV {r['hv']:.3f}, {len(xs)} points)",
                    **styles[method])  # fmt: skip
            end = 10 ** scored[ds]["reference"][1]  # its best holds out to the reference
            ax.plot([xs[-1], end], [ys[-1]] * 2, color=colors[method], **styles[method])
        ax.axhline(scored[ds]["reference"][0], color="black", lw=0.8, ls=":")  # chance
        ax.set_xscale("log")
        ax.set(title=f"{ds}, seed 0", xlabel="parameters", ylabel="validation accuracy")
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)
    print(f"wrote {png}")


if __name__ == "__main__":
    main()
