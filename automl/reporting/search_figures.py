"""Figures of the search, from the study's trials alone."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from optuna.trial import FrozenTrial, TrialState

from automl.reporting.figures import NotApplicable, new_figure
from automl.reporting.summary import ParamSummary
from automl.study.noise import Config, configs
from automl.study.objectives import Objectives, accuracy_of
from automl.study.pareto import Point, front, knee, most_accurate, study_points

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
    values = np.array([accuracy_of(t) for t in done], float)
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


def _curve(trial: FrozenTrial, from_history: bool) -> dict[int, float]:
    """A trial's validation accuracy per epoch: as reported to the pruner, or with
    `from_history` (a two-objective study: Optuna takes no reports) its first run's (fold's)
    from its record; none for a re-check, which the pruner never saw."""
    if trial.intermediate_values or not from_history:
        return dict(trial.intermediate_values)
    from automl.study.record import TrialRecord

    record = TrialRecord.of(trial)
    if record.recheck_of is not None:
        return {}
    return {
        int(row["epoch"]): float(row["val_acc"])
        for row in record.history
        if row.get("fold", 1) == 1 and "epoch" in row and "val_acc" in row
    }


def intermediate_curves(trials: list[FrozenTrial], from_history: bool = False):
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    fig = new_figure(9, 4.5)
    ax = fig.add_subplot()
    groups = {TrialState.COMPLETE: ("C0", []), TrialState.PRUNED: ("C3", [])}
    ends = []
    for t in trials:
        curve = _curve(t, from_history) if t.state in groups else {}
        if not curve:
            continue
        seg = np.array([[s, curve[s]] for s in sorted(curve)], float)
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
        title="Validation accuracy per epoch ("
        + ("first run or fold" if from_history else "the values the pruner saw")
        + ")",
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

    measured = [(TrialRecord.of(t), accuracy_of(t)) for t in done]
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


@dataclass(frozen=True)
class CostFront:
    """What the accuracy-against-cost figure draws, and the report's table of the front lists,
    in a study of accuracy against a cost (`cost_front`)."""

    points: list[Point]  # each completed configuration with its cost (pareto.study_points)
    front: list[Point]  # the Pareto front of `points`, cheapest first
    knee: Point | None  # pareto.knee of the front; None for fewer than 3 members
    default: Point | None  # the member finalize retrains by default: the most accurate
    configs: dict[int, Config] = field(default_factory=dict)  # trial -> its runs (noise.py)
    pruned: int = 0  # pruned trials: no final accuracy, not drawn
    unmeasured: int = 0  # completed configurations without their cost recorded, not drawn


def cost_front(trials: list[FrozenTrial], objectives: Objectives) -> CostFront:
    """The front of a two-objective study's completed configurations (a configuration: its
    search trial with the re-checks of it, at the mean of their accuracies), its knee, and
    finalize's default, the most accurate member (as `automl finalize` without --trial)."""
    found = {c.trial: c for c in configs(trials)}
    points = study_points(trials, objectives)
    members = front(points)
    default = most_accurate(members)
    return CostFront(
        points=points,
        front=members,
        knee=knee(members),
        default=default,
        configs=found,
        pruned=sum(t.state == TrialState.PRUNED for t in trials),
        unmeasured=len(found) - len(points),
    )


def accuracy_against_cost(data: CostFront, objectives: Objectives):
    """Each completed configuration at its cost (log x) and validation accuracy, with ± 1 sd
    where it has several runs or folds; the Pareto front joined by a step line (gid "front"),
    its knee labelled with its trial number, finalize's default ringed."""
    if not data.points:
        raise NotApplicable(f"no completed trial has its {objectives.cost} recorded")
    fig = new_figure(9, 4.5)
    ax = fig.add_subplot()
    x = np.array([p.cost for p in data.points], float)
    y = np.array([p.accuracy for p in data.points], float)
    runs = [data.configs.get(p.trial) for p in data.points]
    sd = np.array([getattr(c, "sd", None) or 0.0 for c in runs], float)
    ax.scatter(x, y, s=14, alpha=0.6, color="C0", label="completed trial")
    if sd.any():
        shown = sd > 0
        ax.errorbar(
            x[shown],
            y[shown],
            yerr=sd[shown],
            fmt="none",
            ecolor="C0",
            alpha=0.6,
            capsize=2,
            label="± 1 sd over its runs (re-checks) or folds",
        )
    fx = [p.cost for p in data.front]
    fy = [p.accuracy for p in data.front]
    ax.step(
        fx,
        fy,
        where="post",
        color="C3",
        marker="o",
        ms=4,
        gid="front",
        label=f"Pareto front ({len(data.front)})",
    )
    if data.default is not None:
        d = data.default
        ax.scatter(
            [d.cost],
            [d.accuracy],
            s=110,
            facecolors="none",
            edgecolors="k",
            lw=1.2,
            zorder=4,
            label=f"finalize's default (#{d.trial})",
        )
    if data.knee is not None:
        k = data.knee
        ax.scatter(
            [k.cost],
            [k.accuracy],
            marker="*",
            s=180,
            color="C2",
            edgecolors="k",
            lw=0.6,
            zorder=5,
            gid="knee",
            label=f"knee (#{k.trial})",
        )
        ax.annotate(
            f"knee #{k.trial}",
            (k.cost, k.accuracy),
            xytext=(8, -14),
            textcoords="offset points",
            fontsize=9,
        )
    ax.set_xscale("log")
    ax.legend(loc="lower right")
    ax.set(
        title=f"Validation accuracy against {objectives.cost}"
        + (f" ({data.pruned} pruned trials not shown)" if data.pruned else ""),
        xlabel=f"{objectives.cost} ({objectives.unit}, log scale)",
        ylabel="validation accuracy",
    )
    return fig
