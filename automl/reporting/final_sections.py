"""The sections a finalized study adds: test metrics from metrics.json, and figures of
model.pt on the held-out images it shows (only those are read)."""

from __future__ import annotations

import json

import numpy as np

from automl.errors import AutoMLError, DataError
from automl.io import write_json
from automl.reporting.figures import add_figure
from automl.reporting.html import Section
from automl.study.record import FinalRun

SHOWN = 30  # held-out images in the prediction grid (10 rows x 3)
FINAL_SECTIONS = {  # id -> title, in page order
    "final": "Final model on the held-out split",
    "predictions": "Held-out predictions",
    "filters": "First conv layer",
    "guided-backprop": "Guided back-propagation",
    "grad-cam": "Grad-CAM",
}


def final_sections(study, studies_dir, out, data, test_dir) -> list[Section]:
    """The final model's sections; each says why it is empty when there is nothing to show."""
    from automl.paths import Paths
    from automl.reporting import final_figures as ff

    sections = [Section(sid, title) for sid, title in FINAL_SECTIONS.items()]
    final, model_sections = sections[0], {s.id: s for s in sections[1:]}
    fdir = Paths(studies_dir).final(study.study_name)
    metrics_path, model_path = fdir / "metrics.json", fdir / "model.pt"
    if not FinalRun.stored(study) or not metrics_path.is_file():
        why = f"not finalized yet: run `automl finalize --study {study.study_name}`"
        for s in sections:
            s.note(f"Nothing here, the study is {why}.")
        return sections
    try:
        metrics = json.loads(metrics_path.read_text())
        row = [
            f"{metrics['accuracy']:.4f}",
            f"{metrics['f1_macro']:.4f}",
            f"{metrics['f1_micro']:.4f}",
            f"{metrics.get('test_loss', float('nan')):.4f}",
            metrics["n"],
            f"#{metrics['trial']}",
            metrics["run"],
            "yes" if metrics.get("forced") else "no",
        ]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        why = f"{metrics_path} cannot be read ({type(exc).__name__}: {exc})"
        for s in sections:
            s.note(f"Nothing here: {why}; rerun `automl finalize --force`.")
        return sections
    final.table(
        ["test accuracy", "F1 macro", "F1 micro", "test loss", "images", "trial", "run", "forced"],
        [row],
    )
    previous = metrics.get("previous_runs") or []
    if previous:
        final.text(
            f"This is scoring run {metrics['run']}; the held-out split was scored before "
            f"({len(previous)} earlier run(s): "
            + ", ".join(
                f"run {r.get('run', '?')} accuracy {r.get('accuracy', float('nan')):.4f}"
                for r in previous
            )
            + "). Figures below are of the latest model."
        )
    add_figure(final, "confusion_matrix", "Confusion matrix", ff.confusion, metrics)
    add_figure(final, "per_class_f1", "Per-class F1", ff.per_class_f1, metrics)
    add_figure(
        final,
        "final_training_curves",
        "Training curves of the final run",
        ff.training_curves,
        metrics.get("history", []),
    )
    _model_sections(model_sections, study, model_path, out, data, test_dir)
    return sections


def _model_sections(sections, study, model_path, out, data, test_dir):
    from automl.data import open_source
    from automl.inference import load_model
    from automl.reporting import model_figures as mf
    from automl.study.record import StudyRecord

    try:
        record = StudyRecord.from_study(study)
        seed = record.seed
        loaded = load_model(model_path, device="cpu")
        source = open_source(*record.data_location(data, test_dir))
        if tuple(source.classes) != tuple(loaded.classes) or source.channels != loaded.in_chans:
            raise DataError(
                f"the data at {source.name} ({len(source.classes)} classes, {source.channels} "
                f"channel(s)) is not what {model_path} was trained on "
                f"({len(loaded.classes)} classes, {loaded.in_chans} channel(s)); "
                "pass --data/--test-dir with the study's images"
            )
        index = source.held_out_index()  # names only: nothing of the held-out split is decoded
        n = len(index)
        rng = np.random.default_rng(seed)
        chosen = np.sort(rng.choice(n, size=min(SHOWN, n), replace=False)).tolist()
        test, idx = source.held_out_items(chosen, loaded.resolution)  # only the shown images
    except AutoMLError as exc:
        for s in sections.values():
            s.note(f"Not shown: {exc}")
        return
    if not idx:
        for s in sections.values():
            s.note("Not shown: none of the chosen held-out images could be decoded.")
        return
    images, labels = test.images, test.labels.numpy()
    preds = mf.predict(loaded, images)
    classes = loaded.classes
    write_json(
        out / "shown_images.json",
        {
            "note": "the only held-out images the report read: positions in the held-out "
            "split (files sorted per class), chosen with numpy default_rng(study seed)",
            "seed": seed,
            "indices": idx,
            "names": [index[i][0] for i in idx],
            "true": [classes[i] for i in labels],
            "predicted": [classes[i] for i in preds],
        },
    )
    p = sections["predictions"]
    p.text(
        f"{len(idx)} held-out images chosen at random (seed {seed}) of {n}; "
        f"{int((labels == preds).sum())} predicted correctly. Only these were read; their "
        "positions (names in shown_images.json): " + ", ".join(map(str, idx))
    )
    add_figure(
        p,
        "prediction_grid",
        "Held-out images with true and predicted labels",
        mf.prediction_grid,
        images,
        labels,
        preds,
        classes,
        idx,
    )
    right = [i for i in range(len(idx)) if labels[i] == preds[i]]
    one = right[0] if right else 0
    f = sections["filters"]
    add_figure(f, "first_layer_filters", "First conv layer filters", mf.filters, loaded)
    add_figure(
        f,
        "first_layer_activations",
        "First conv layer activation maps",
        mf.activation_maps,
        loaded,
        images[one],
        classes[labels[one]],
    )
    g = sections["guided-backprop"]
    g.text(
        f"For held-out image #{idx[one]} (true class {classes[labels[one]]}). Exact guided "
        "back-propagation for ReLU; for other activations, negative gradients and negative "
        "local slopes are zeroed the same way."
    )
    add_figure(
        g, "guided_backprop", "Guided back-propagation", mf.guided_backprop, loaded, images[one]
    )
    add_figure(
        sections["grad-cam"],
        "grad_cam",
        "Grad-CAM",
        mf.grad_cam,
        loaded,
        images,
        labels,
        preds,
        classes,
        idx,
    )
