"""Figures of the search, from the study's trials alone."""

from __future__ import annotations

import numpy as np
from optuna.trial import FrozenTrial, TrialState

from automl.reporting.figures import new_figure
from automl.reporting.summary import ParamSummary

MAX_PARALLEL = 12  # most important params drawn as parallel axes


def accuracy_over_time(trials: list[FrozenTrial]):
    """Each completed search trial at its start time: its configuration's value (the mean
    over its runs, once re-checked) with an error bar of one sd where it has several runs
    (re-checks, or --cv folds)."""
    from automl.study.noise import configs

    found = {c.trial: c for c in configs(trials)}
    done = sorted(
        (t for t in trials if t.number in found and t.datetime_start),
        key=lambda t: t.datetime_start,
    )
    fig = new_figure(9, 4)
    ax = fig.add_subplot()
    unit = "minutes"
    if done:
        t0 = done[0].datetime_start
        span = (done[-1].datetime_start - t0).total_seconds()
        unit, scale = ("seconds", 1.0) if span < 120 else ("minutes", 60.0)
        when = np.array([(t.datetime_start - t0).total_seconds() / scale for t in done])
        values = np.array([found[t.number].value for t in done])
        sd = np.array([found[t.number].sd or 0.0 for t in done])
        ax.scatter(when, values, s=14, alpha=0.7, label="completed trial")
        if sd.any():
            shown = sd > 0
            ax.errorbar(
                when[shown], values[shown], yerr=sd[shown], fmt="none", ecolor="C0", alpha=0.6,
                capsize=2, label="± 1 sd over its runs (re-checks) or folds",
            )  # fmt: skip
        ax.step(when, np.maximum.accumulate(values), where="post", color="C3", label="best so far")
        ax.legend(loc="best")
    ax.set(
        title="Validation accuracy of each trial against its start time",
        xlabel=f"{unit} since the first trial started",
        ylabel="validation accuracy",
    )
    return fig


def parallel_coordinates(trials: list[FrozenTrial], summaries: list[ParamSummary]):
    from matplotlib.collections import LineCollection

    done = [t for t in trials if t.state == TrialState.COMPLETE]
    params = [s for s in summaries if s.n == len(done)][:MAX_PARALLEL] or summaries[:MAX_PARALLEL]
    fig = new_figure(max(8, 1.1 * (len(params) + 1)), 4.5)
    ax = fig.add_subplot()
    axes_vals, labels = [], []
    for s in params:
        col = [t.params.get(s.name) for t in done]
        if s.categorical:
            levels = list(dict.fromkeys(str(v) for v in col if v is not None))
            idx = {v: i for i, v in enumerate(levels)}
            vals = np.array([np.nan if v is None else idx[str(v)] for v in col], float)
            vals = vals / max(1, len(levels) - 1)
            labels.append(
                f"{s.name}\n({' / '.join(levels[:4])}{' ...' if len(levels) > 4 else ''})"
            )
        else:
            vals = np.array([np.nan if v is None else float(v) for v in col], float)
            log = np.nanmin(vals) > 0 and np.nanmax(vals) / max(np.nanmin(vals), 1e-300) > 100
            if log:
                vals = np.log10(vals)
            lo, hi = np.nanmin(vals), np.nanmax(vals)
            vals = (vals - lo) / (hi - lo) if hi > lo else vals * 0 + 0.5
            labels.append(f"{s.name}{' (log)' if log else ''}")
        axes_vals.append(vals)
    values = np.array([t.value for t in done], float)
    if done:
        lo, hi = values.min(), values.max()
        axes_vals.append((values - lo) / (hi - lo) if hi > lo else values * 0 + 0.5)
        labels.append("val accuracy")
        data = np.stack(axes_vals, 1)
        xs = np.arange(data.shape[1])
        order = np.argsort(values)  # best drawn last, on top
        segs = [np.column_stack([xs, data[i]]) for i in order]
        lines = LineCollection(segs, cmap="viridis", linewidths=0.8, alpha=0.6)
        lines.set_array(values[order])
        ax.add_collection(lines)
        fig.colorbar(lines, ax=ax, label="validation accuracy")
        ax.set_xticks(xs, labels, fontsize=7)
        ax.set_xlim(-0.2, xs[-1] + 0.2)
    ax.set_ylim(-0.05, 1.05)
    ax.set(
        title="Parallel coordinates (each axis scaled to its range; choices in listed order)",
        ylabel="scaled value",
    )
    return fig


def importance_bars(imp: dict[str, float], evaluator: str):
    fig = new_figure(8, max(2.5, 0.35 * len(imp) + 1))
    ax = fig.add_subplot()
    names = list(imp)[::-1]
    ax.barh(names, [imp[n] for n in names], color="C0")
    method = "PED-ANOVA" if evaluator == "ped_anova" else "fANOVA"
    ax.set(
        title=f"Hyperparameter importance ({method})",
        xlabel="importance (sums to 1)",
    )
    return fig


def intermediate_curves(trials: list[FrozenTrial]):
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    fig = new_figure(9, 4.5)
    ax = fig.add_subplot()
    groups = {TrialState.COMPLETE: ("C0", []), TrialState.PRUNED: ("C3", [])}
    ends = []
    for t in trials:
        if t.state not in groups or not t.intermediate_values:
            continue
        steps = sorted(t.intermediate_values)
        seg = np.array([[s, t.intermediate_values[s]] for s in steps], float)
        groups[t.state][1].append(seg)
        if t.state == TrialState.PRUNED:
            ends.append(seg[-1])
    xmax = 1
    for color, segs in groups.values():
        if segs:
            ax.add_collection(LineCollection(segs, colors=color, linewidths=0.8, alpha=0.5))
            xmax = max(xmax, max(s[-1, 0] for s in segs))
    if ends:
        e = np.array(ends)
        ax.scatter(e[:, 0], e[:, 1], marker="x", color="C3", s=18, zorder=3)
    ax.set_xlim(0.8, xmax + 0.2)
    ax.set_ylim(0, 1.02)
    ax.legend(
        handles=[
            Line2D([], [], color="C0", label="completed"),
            Line2D([], [], color="C3", marker="x", label="pruned (x: where it stopped)"),
        ],
        loc="lower right",
    )
    ax.set(
        title="Validation accuracy per epoch (the values the pruner saw)",
        xlabel="epoch",
        ylabel="validation accuracy",
    )
    return fig


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """(cost, accuracy) points no other point beats: cheaper-or-equal and at least as accurate,
    better in one. Sorted by cost."""
    front, best = [], -np.inf
    for cost, acc in sorted(points, key=lambda p: (p[0], -p[1])):  # ties: most accurate first
        if acc > best:
            front.append((cost, acc))
            best = acc
    return front


def pareto(trials: list[FrozenTrial], limits: dict | None = None):
    """Validation accuracy against model cost, one panel per cost (latency when measured),
    with the study's deployment limits drawn where it has them."""
    from automl.study.limits import LIMITS

    limits = limits or {}
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    panels = [
        ("params", "parameters")
        if "max_params" in limits
        else ("trainable_params", "trainable parameters"),
        ("flops", "forward FLOPs per image"),
    ]
    from automl.study.record import TrialRecord

    measured = [(TrialRecord.of(t), t.value) for t in done]
    if any(r.latency_ms is not None for r, _ in measured):
        panels.append(("latency_ms", "batch-1 latency, ms"))
    bounds = {
        lim.measured: (lim.option, limits[lim.field]) for lim in LIMITS if lim.field in limits
    }
    fig = new_figure(5 * len(panels), 4)
    for i, (key, label) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        pts = [
            (float(r.measured(key)), float(value))
            for r, value in measured
            if r.measured(key) is not None
        ]
        if pts:
            x, y = np.array(pts).T
            ax.scatter(x, y, s=12, alpha=0.6, label="trial")
            front = pareto_front(pts)
            fx, fy = np.array(front).T
            ax.step(fx, fy, where="post", color="C3", marker="o", ms=4, label="Pareto front")
            ax.set_xscale("log")
        if key in bounds:
            option, bound = bounds[key]
            ax.axvline(bound, color="k", linestyle="--", lw=1, label=f"{option} {bound:g}")
        if pts or key in bounds:
            ax.legend(loc="lower right")
        ax.set(
            title=f"Val accuracy vs {label}",
            xlabel=f"{label} (log scale)",
            ylabel="validation accuracy",
        )
    return fig
