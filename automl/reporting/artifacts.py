"""Upload report figures and metrics.json as Optuna artifacts, for optuna-dashboard."""

from __future__ import annotations

import logging
from pathlib import Path

import optuna
from optuna.artifacts import FileSystemArtifactStore, get_all_artifact_meta, upload_artifact

from automl.io import write_bytes
from automl.paths import STUDIES_DIR, Paths

log = logging.getLogger(__name__)


def uploaded(study: optuna.Study) -> dict[str, str]:
    """filename -> artifact id of the study's own artifacts."""
    return {meta.filename: meta.artifact_id for meta in get_all_artifact_meta(study)}


def upload(
    study: optuna.Study, files: list[Path], studies_dir: str | Path = STUDIES_DIR
) -> list[str]:
    """Upload `files` to the study's file-system artifact store; returns the artifact ids.

    A file name uploaded before keeps its artifact id and gets the new content, so reports
    rerun do not pile up copies in the dashboard."""
    base = Paths(studies_dir).artifacts(study.study_name)
    base.mkdir(parents=True, exist_ok=True)
    store = FileSystemArtifactStore(base)
    known = uploaded(study)
    ids = []
    for f in files:
        if f.name in known:
            with open(f, "rb") as body:
                store.write(known[f.name], body)
            ids.append(known[f.name])
        else:
            ids.append(
                upload_artifact(artifact_store=store, file_path=str(f), study_or_trial=study)
            )
    return ids


def upload_final(
    study: optuna.Study, metrics_path: Path, metrics: dict, studies_dir: str | Path = STUDIES_DIR
) -> list[str]:
    """After finalize: metrics.json and the confusion matrix / per-class F1 figures.

    The held-out score is already written and recorded by then, so a failed upload is
    logged, not raised: it must not make a finished finalize look failed."""
    from automl.reporting.figures import to_png
    from automl.reporting.final_figures import confusion, per_class_f1

    try:
        files = [metrics_path]
        for name, make in (("confusion_matrix", confusion), ("per_class_f1", per_class_f1)):
            files.append(write_bytes(metrics_path.with_name(f"{name}.png"), to_png(make(metrics))))
        return upload(study, files, studies_dir)
    except Exception as exc:  # see the docstring
        log.warning("could not upload the final metrics as Optuna artifacts: %s", exc)
        return []
