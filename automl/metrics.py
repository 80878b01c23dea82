"""Held-out metrics: accuracy, macro/micro F1, per-class precision/recall/F1, confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# sklearn (~0.7 s to import) loads in the functions below, when metrics are computed.


def classification_metrics(
    targets: Sequence[int], predictions: Sequence[int], classes: Sequence[str]
) -> dict:
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    y, p = np.asarray(targets), np.asarray(predictions)
    labels = list(range(len(classes)))
    precision, recall, f1, support = precision_recall_fscore_support(
        y, p, labels=labels, zero_division=0
    )
    return {
        "accuracy": float(accuracy_score(y, p)),
        **f1_scores(y, p, len(classes)),
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(classes)
        },
        "confusion_matrix": confusion_matrix(y, p, labels=labels).tolist(),  # rows: true class
        "n": int(len(y)),
    }


def f1_scores(targets, predictions, num_classes: int) -> dict[str, float]:
    """Macro and micro F1 over all `num_classes` labels (absent classes count as 0 in macro)."""
    from sklearn.metrics import f1_score

    labels = list(range(num_classes))
    y, p = np.asarray(targets), np.asarray(predictions)
    return {
        "f1_macro": float(f1_score(y, p, labels=labels, average="macro", zero_division=0)),
        "f1_micro": float(f1_score(y, p, labels=labels, average="micro", zero_division=0)),
    }
