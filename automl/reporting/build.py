"""`automl report`: figures and findings of a study, from its database (and final model)."""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path

import numpy as np
from optuna.study import StudyDirection
from optuna.trial import TrialState

from automl.errors import AutoMLError, DataError, ReportError, StudyError
from automl.io import write_bytes

log = logging.getLogger(__name__)

SHOWN = 30  # held-out images in the prediction grid (10 rows x 3)
SECTIONS = (
    "overview",
    "search",
    "observations",
    "model-size",
    "final",
    "predictions",
    "filters",
    "guided-backprop",
    "grad-cam",
)


def report_dir(study: str, studies_dir: str | Path = "studies") -> Path:
    return Path(studies_dir) / study / "report"


def report(
    study: str,
    *,
    storage: str | None = None,
    studies_dir: str | Path = "studies",
    importance: str = "ped_anova",
    upload: bool = True,
    data: str | Path | None = None,
    test_dir: str | Path | None = None,
) -> Path:
    """Write studies/<study>/report/index.html (self-contained) and return its path; with
    `upload`, its figures also go to the study's artifact store for optuna-dashboard.

    `data`/`test_dir`: where the study's images are now, when they moved since the search
    (as for finalize); only the held-out images shown in the report are read."""
    from automl.reporting.html import Section, page
    from automl.reporting.summary import completed, importances, summarize
    from automl.study.storage import default_storage, load_study

    started = time.perf_counter()
    the_study = load_study(study, storage or default_storage(study, studies_dir))
    if the_study.directions != [StudyDirection.MAXIMIZE]:
        got = ", ".join(d.name.lower() for d in the_study.directions)
        raise StudyError(
            f"study {study!r} optimises {got}; automl report reads single-objective studies "
            "that maximise validation accuracy, as `automl search` makes them"
        )
    trials = the_study.get_trials(deepcopy=False)
    done = completed(the_study)
    if not done:
        raise StudyError(f"study {study!r} has no completed trial yet; nothing to report")
    imp = importances(the_study, importance)  # validates the evaluator name first
    summaries = summarize(done, imp.values)
    out = report_dir(study, studies_dir)
    try:
        (out / "figures").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(
            f"cannot write the report to {out}: {exc.strerror or exc}; "
            "pass --studies-dir with a writable folder"
        ) from None
    sections = {sid: None for sid in SECTIONS}
    sections["overview"] = _overview(Section("overview", "Overview"), the_study, trials, done)
    sections["search"] = _search(Section("search", "Search"), trials, summaries, imp, importance)
    sections["observations"] = _observations(
        Section("observations", "Observations"), summaries, trials, len(done)
    )
    sections["model-size"] = _model_size(Section("model-size", "Model size"), the_study)
    _final(sections, the_study, studies_dir, out, data, test_dir)
    html_text = page(
        f"automl report: {study}",
        f"{len(trials)} trials, storage {storage or default_storage(study, studies_dir)}",
        list(sections.values()),
    )
    index = out / "index.html"
    try:  # each file atomically: a crash leaves the previous report's file, never half of one
        files = [
            write_bytes(out / "figures" / f"{fig.name}.png", fig.png)
            for s in sections.values()
            for fig in s.figures()
        ]
        write_bytes(index, html_text.encode("utf-8"))
    except OSError as exc:
        raise ReportError(
            f"cannot write the report to {out}: {exc.strerror or exc}; "
            "pass --studies-dir with a writable folder"
        ) from None
    if upload:  # the report is written by now: a failed upload is a warning, not a failure
        from automl.reporting.artifacts import upload as upload_files

        try:
            upload_files(the_study, [index, *files], studies_dir)
        except Exception as exc:
            log.warning("report written, but its upload for optuna-dashboard failed: %s", exc)
    log.info("report of %s written in %.1f s", study, time.perf_counter() - started)
    return index


def _figure(section, name: str, alt: str, make, *args) -> None:
    """Render one figure into `section`; a figure that does not apply leaves a visible note."""
    from automl.reporting.figures import to_png
    from automl.reporting.html import Figure
    from automl.reporting.model_figures import NotApplicable

    try:
        section.figure(Figure(name, to_png(make(*args)), alt))
    except NotApplicable as exc:
        section.note(f"{alt}: not shown, {exc}.")
    except AutoMLError as exc:
        section.note(f"{alt}: not shown, {exc}")
    except Exception as exc:  # a report shows what it can; the log keeps the traceback
        log.exception("figure %s failed", name)
        section.note(f"{alt}: could not be drawn ({type(exc).__name__}: {exc}).")


def _overview(section, study, trials, done):
    attrs = study.user_attrs
    states = {}
    for t in trials:
        states[t.state.name.lower()] = states.get(t.state.name.lower(), 0) + 1
    best = study.best_trial
    section.table(
        ["", ""],
        [
            ["space", attrs.get("space", "-")],
            ["data", f"{attrs.get('data', '-')} (held out: {attrs.get('test_dir') or 'default'})"],
            ["classes", ", ".join(map(str, attrs.get("classes", []))) or "-"],
            ["epochs per trial", attrs.get("epochs", "-")],
            ["trials", ", ".join(f"{n} {k}" for k, n in states.items())],
            ["best trial", f"#{best.number}: validation accuracy {best.value:.4f}"],
            ["best params", ", ".join(f"{k}={_fmt(v)}" for k, v in best.params.items())],
        ],
    )
    return section


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _search(section, trials, summaries, imp, evaluator):
    from automl.reporting import search_figures as sf
    from automl.reporting.observations import MIN_TRIALS

    _figure(
        section,
        "accuracy_over_time",
        "Validation accuracy against start time",
        sf.accuracy_over_time,
        trials,
    )
    _figure(
        section,
        "parallel_coordinates",
        "Parallel coordinates",
        sf.parallel_coordinates,
        trials,
        summaries,
    )
    if imp.values:
        _figure(
            section,
            "importance",
            "Hyperparameter importance",
            sf.importance_bars,
            imp.values,
            evaluator,
        )
        done = sum(t.state == TrialState.COMPLETE for t in trials)
        if done < MIN_TRIALS:
            section.note(
                f"Importance from {done} completed trials is a rough guide at best; "
                f"it means little under {MIN_TRIALS}."
            )
    else:
        section.note("Hyperparameter importance: too few completed trials to estimate it.")
    if imp.left_out:
        section.text(
            "Not assessed for importance: "
            + "; ".join(f"{name} ({why})" for name, why in imp.left_out.items())
            + "."
        )
    section.text(
        "Correlation: Spearman rank correlation with validation accuracy for numbers; for "
        "choices, the spread (max - min) of the median validation accuracy across levels. "
        "Best level: highest median (choices) or the value in the best trial (numbers)."
    )
    section.table(
        ["hyperparameter", "importance", "correlation / spread", "best level", "trials per level"],
        [
            [
                s.name,
                "-" if s.importance is None else f"{s.importance:.3f}",
                "-"
                if s.correlation is None
                else (
                    f"spread {s.correlation:.3f}" if s.categorical else f"rho {s.correlation:+.2f}"
                ),
                s.best_level,
                s.counts(),
            ]
            for s in summaries
        ],
    )
    _figure(
        section,
        "intermediate_values",
        "Intermediate values and pruning",
        sf.intermediate_curves,
        trials,
    )
    _figure(section, "pareto", "Accuracy against parameters and FLOPs", sf.pareto, trials)
    return section


def _observations(section, summaries, trials, n_complete):
    from automl.reporting.observations import observe

    n_pruned = sum(t.state == TrialState.PRUNED for t in trials)
    found = observe(summaries, n_complete, n_pruned)
    section.text(
        f"Computed from the {n_complete} completed trials (pruned ones stopped at different "
        "epochs, so their accuracies are not comparable). A finding needs enough trials per "
        "level and a gap larger than the spread; see docs/report.md."
    )
    supported = [o for o in found if o.supported]
    notes = [o for o in found if not o.supported]
    if supported:
        items = "".join(f"<li><b>{_esc(o.finding)}</b> {_esc(o.evidence)}</li>" for o in supported)
        section.parts.append(f"<ul>{items}</ul>")
    else:
        section.note("No finding is supported by the data yet.")
    if notes:
        items = "".join(f"<li>{_esc(o.finding)} {_esc(o.evidence)}</li>" for o in notes)
        section.parts.append(
            f'<p class="muted">Not enough evidence:</p><ul class="muted">{items}</ul>'
        )
    return section


def _esc(text: str) -> str:
    import html

    return html.escape(text)


def _model_size(section, study):
    from automl.config import with_model_options
    from automl.models import create_model
    from automl.reporting.modelsize import model_size
    from automl.spaces import get_space

    attrs, best = study.user_attrs, study.best_trial
    try:
        space = get_space(attrs.get("space_file") or attrs["space"])
        cfg = with_model_options(space.rebuild(best.params), attrs.get("model_options", {}))
        model_cfg = cfg.model
        if "pretrained" in {f.name for f in dataclasses.fields(model_cfg)}:
            model_cfg = dataclasses.replace(model_cfg, pretrained=False)  # size only
        classes, chans = len(attrs["classes"]), int(attrs["channels"])
        model = create_model(
            model_cfg, num_classes=classes, in_chans=chans, resolution=cfg.data.resolution
        )
        size = model_size(model_cfg, model, chans, cfg.data.resolution, classes)
    except (AutoMLError, KeyError) as exc:
        section.note(f"The best config cannot be rebuilt here: {exc}")
        return section
    closed = size.closed_flops is not None
    section.text(
        f"Best trial #{best.number} ({size.arch}, {cfg.data.resolution}px, {chans} channel(s), "
        f"{classes} classes). FLOPs: forward pass of one image, a multiply-add counts 2."
    )
    section.table(
        ["", "counted (torch FlopCounterMode)", "closed form (5-block CNN)", "agree"],
        [
            [
                "parameters",
                f"{size.params:,}",
                f"{size.closed_params:,}" if closed else "-",
                "yes" if size.params == size.closed_params else ("-" if not closed else "NO"),
            ],
            [
                "forward FLOPs",
                f"{size.flops:,}",
                f"{size.closed_flops:,}" if closed else "-",
                "yes" if size.flops == size.closed_flops else ("-" if not closed else "NO"),
            ],
        ],
    )
    if closed:
        section.text(
            "Closed form: conv 2k²Σ W²ᵢ₋₁ mᵢ₋₁ mᵢ (Wᵢ the side before block i's pool), dense "
            "2D²m₅n, output 2n·classes; parameters k²mᵢ₋₁mᵢ plus biases or batch-norm."
        )
    else:
        section.note(f"No closed form for {size.arch}; only the counted values are shown.")
    return section


def _final(sections, study, studies_dir, out, data, test_dir):
    from automl.reporting import final_figures as ff
    from automl.reporting.html import Section
    from automl.study.finalize import final_dir

    final = sections["final"] = Section("final", "Final model on the held-out split")
    names = {
        "predictions": "Held-out predictions",
        "filters": "First conv layer",
        "guided-backprop": "Guided back-propagation",
        "grad-cam": "Grad-CAM",
    }
    for sid, title in names.items():
        sections[sid] = Section(sid, title)
    fdir = final_dir(study.study_name, studies_dir)
    metrics_path, model_path = fdir / "metrics.json", fdir / "model.pt"
    if not study.user_attrs.get("final_runs") or not metrics_path.is_file():
        why = f"not finalized yet: run `automl finalize --study {study.study_name}`"
        for s in sections.values():
            if s.id in ("final", *names):
                s.note(f"Nothing here, the study is {why}.")
        return
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
        for s in sections.values():
            if s.id in ("final", *names):
                s.note(f"Nothing here: {why}; rerun `automl finalize --force`.")
        return
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
    _figure(final, "confusion_matrix", "Confusion matrix", ff.confusion, metrics)
    _figure(final, "per_class_f1", "Per-class F1", ff.per_class_f1, metrics)
    _figure(
        final,
        "final_training_curves",
        "Training curves of the final run",
        ff.training_curves,
        metrics.get("history", []),
    )
    _model_sections(sections, study, studies_dir, model_path, out, data, test_dir)


def _model_sections(sections, study, studies_dir, model_path, out, data, test_dir):
    from automl.data import open_source
    from automl.inference import load_model
    from automl.reporting import model_figures as mf
    from automl.study.finalize import data_location

    attrs = study.user_attrs
    seed = int(attrs.get("seed", 0))
    try:
        loaded = load_model(model_path, device="cpu")
        source = open_source(*data_location(attrs, data, test_dir))
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
        for sid in ("predictions", "filters", "guided-backprop", "grad-cam"):
            sections[sid].note(f"Not shown: {exc}")
        return
    if not idx:
        for sid in ("predictions", "filters", "guided-backprop", "grad-cam"):
            sections[sid].note("Not shown: none of the chosen held-out images could be decoded.")
        return
    images, labels = test.images, test.labels.numpy()
    preds = mf.predict(loaded, images)
    classes = loaded.classes
    (out / "shown_images.json").write_text(
        json.dumps(
            {
                "note": "the only held-out images the report read: positions in the held-out "
                "split (files sorted per class), chosen with numpy default_rng(study seed)",
                "seed": seed,
                "indices": idx,
                "names": [index[i][0] for i in idx],
                "true": [classes[i] for i in labels],
                "predicted": [classes[i] for i in preds],
            },
            indent=1,
        )
    )
    p = sections["predictions"]
    p.text(
        f"{len(idx)} held-out images chosen at random (seed {seed}) of {n}; "
        f"{int((labels == preds).sum())} predicted correctly. Only these were read; their "
        "positions (names in shown_images.json): " + ", ".join(map(str, idx))
    )
    _figure(
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
    _figure(f, "first_layer_filters", "First conv layer filters", mf.filters, loaded)
    _figure(
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
    _figure(
        g, "guided_backprop", "Guided back-propagation", mf.guided_backprop, loaded, images[one]
    )
    _figure(
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
