"""Figures of the final run from metrics.json alone (no model needed)."""

from __future__ import annotations

import numpy as np

from automl.reporting.figures import new_figure


def confusion(metrics: dict):
    cm = np.asarray(metrics["confusion_matrix"])
    classes = list(metrics["per_class"])
    size = max(4.5, 0.45 * len(classes) + 2)
    fig = new_figure(size + 1, size)
    ax = fig.add_subplot()
    im = ax.imshow(cm, cmap="Blues")
    fig.colorbar(im, ax=ax, label="held-out images")
    ticks = range(len(classes))
    ax.set_xticks(ticks, classes, rotation=45, ha="right")
    ax.set_yticks(ticks, classes)
    if len(classes) <= 20:
        for (i, j), v in np.ndenumerate(cm):
            ax.text(
                j,
                i,
                str(v),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if v > cm.max() / 2 else "black",
            )
    ax.set(
        title=f"Confusion matrix on the held-out split ({metrics['n']} images)",
        xlabel="predicted class",
        ylabel="true class",
    )
    return fig


def per_class_f1(metrics: dict):
    per = metrics["per_class"]
    fig = new_figure(max(6, 0.5 * len(per) + 2), 4)
    ax = fig.add_subplot()
    names = list(per)
    ax.bar(range(len(names)), [per[n]["f1"] for n in names], color="C2")
    ax.axhline(
        metrics["f1_macro"], color="C3", ls="--", label=f"macro F1 {metrics['f1_macro']:.3f}"
    )
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_ylim(0, 1.05)
    ax.legend(loc="lower right")
    ax.set(title="Per-class F1 on the held-out split", xlabel="class", ylabel="F1")
    return fig


def training_curves(history: list[dict]):
    fig = new_figure(10, 4)
    epochs = [r["epoch"] for r in history]
    for i, (key, label) in enumerate([("loss", "cross-entropy loss"), ("acc", "accuracy")]):
        ax = fig.add_subplot(1, 2, i + 1)
        for prefix, name in (("train_", "train (train+val pool)"), ("val_", "validation")):
            vals = [r.get(prefix + key) for r in history]
            if any(v is not None for v in vals):
                ax.plot(epochs, [np.nan if v is None else v for v in vals], marker="o", label=name)
        ax.set(title=f"Final run: {label} per epoch", xlabel="epoch", ylabel=label)
        ax.legend()
    return fig
