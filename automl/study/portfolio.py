"""A portfolio of known-good first trials: params a space declares (`portfolio=` of
`register_space`, `PORTFOLIO` in a file) that a new study enqueues before sampling anything,
so the sampler starts from configurations that are known to train well."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from typing import Any

import optuna

from automl import optuna_compat
from automl.errors import AutoMLError, SpaceError
from automl.spaces import Space

log = logging.getLogger(__name__)


def portfolio_trials(space: Space, fixed: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The space's portfolio as this study can run it: its pins applied, entries outside the
    study's narrowed choices left out, duplicates dropped; a bad entry is a `SpaceError`."""
    trials: list[dict[str, Any]] = []
    for i, entry in enumerate(space.portfolio):
        params = {**entry, **fixed}
        if any(k in params and params[k] not in v for k, v in space.choices.items()):
            continue
        if params in trials:
            continue
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=optuna_compat.FIXED_TRIAL_OUT_OF_RANGE)
                space.sample(fixed=params)
        except (AutoMLError, ValueError, TypeError) as exc:
            raise SpaceError(
                f"portfolio entry {i} of space {space.name!r} ({dict(entry)}) is not a valid "
                f"trial: {exc}"
            ) from None
        trials.append(params)
    return trials


def enqueue_portfolio(study: optuna.Study, trials: list[dict[str, Any]]) -> int:
    for params in trials:
        study.enqueue_trial(params, skip_if_exists=True)
    if trials:
        log.info("study %s runs %d known-good configurations first", study.study_name, len(trials))
    return len(trials)
