"""Public steps that go on past their package: each runs the library step, then what follows
it at the edge, as the CLI does. `automl.finalize` is `finalize` here."""

from __future__ import annotations

import functools
import inspect
from typing import Any

from automl.study.finalize import FinalResult
from automl.study.finalize import finalize as score


@functools.wraps(score)
def finalize(study: str, **options: Any) -> FinalResult:
    """Retrain and score the study's best trial (automl.study.finalize.finalize, same
    arguments), then upload metrics.json and its figures for optuna-dashboard."""
    from automl.reporting.artifacts import upload_finalized

    result = score(study, **options)
    given = inspect.signature(score).bind(study, **options)
    given.apply_defaults()
    upload_finalized(result, given.arguments["storage"], given.arguments["studies_dir"])
    return result
