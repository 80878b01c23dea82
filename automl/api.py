"""Public steps that go on past their package: each runs the library step, then what follows
it at the edge, as the CLI does. `automl.finalize` is `finalize` here."""

from __future__ import annotations

import functools
import inspect
import json
import logging
from collections.abc import Sequence
from typing import Any

from automl.errors import AutoMLError
from automl.study.finalize import FinalResult
from automl.study.finalize import finalize as score
from automl.track.names import parse_track

log = logging.getLogger(__name__)


@functools.wraps(score)
def finalize(study: str, track: str | Sequence[str] | None = None, **options: Any) -> FinalResult:
    """Retrain and score the study's best trial (automl.study.finalize.finalize, same
    arguments), then upload metrics.json and its figures for optuna-dashboard, and log the
    run to `track` (mlflow, wandb, tensorboard; None: the study's trackers)."""
    names = parse_track(track)  # a bad or missing tracker is refused before the retrain
    result = score(study, **options)
    given = inspect.signature(score).bind(study, **options)
    given.apply_defaults()
    _after_scoring(result, names, given.arguments["storage"], given.arguments["studies_dir"])
    return result


def _after_scoring(result: FinalResult, names, storage, studies_dir) -> None:
    """metrics.json and its figures uploaded for optuna-dashboard, and finalize's run in the
    trackers (`names`; None: the study's). The score is saved by now: nothing here raises."""
    from automl.reporting.artifacts import upload_final
    from automl.study.storage import default_storage, load_study

    try:
        the_study = load_study(result.study, storage or default_storage(result.study, studies_dir))
    except Exception as exc:  # see upload_final
        log.warning("could not upload the final metrics as Optuna artifacts: %s", exc)
        return
    upload_final(the_study, result.metrics_path, result.metrics, studies_dir)
    _track_finalized(result, names, the_study, studies_dir)


def _track_finalized(result: FinalResult, names, the_study, studies_dir) -> None:
    """finalize's run in the trackers, from metrics.json and the figures beside it."""
    from automl.paths import Paths
    from automl.study.record import FinalRun, StudyRecord
    from automl.track.study import track_final

    try:
        record = StudyRecord.from_study(the_study)
        names = record.track if names is None else names
        if not names:
            return
        final = FinalRun.from_dict(json.loads(result.metrics_path.read_text()))
        figures = [
            result.metrics_path.with_name(f"{name}.png")
            for name in ("confusion_matrix", "per_class_f1")
        ]
        figures = [p for p in figures if p.exists()] + [result.metrics_path]
        track_final(
            names, result.study, record, Paths(studies_dir), final, result.model_path, figures
        )
    except AutoMLError as exc:  # a tracker the study names that is not installed here
        log.warning("finalize's run was not tracked: %s", exc)
