"""Pretrained weights for a study, settled before its first trial.

A space that fine-tunes names its backbone param (`Space.backbone_param`). When a study is
created, every choice of it is resolved once: found on this machine, or downloaded by timm
unless offline. Backbones still without weights are left out of the study's choices (one
warning), and the choices are stored with the study, so a resume and every worker sample from
the same list even when the space's list changes later (Optuna refuses a categorical whose
choices change within a study). A worker fetches them before it starts, so no trial dies
half-way for want of weights.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import optuna

from automl.errors import StudyError, WeightsError
from automl.models.pretrained import resolve_weights
from automl.spaces import Space

log = logging.getLogger(__name__)


def _choices(space: Space, fixed: Mapping[str, Any], options: Mapping[str, Any]) -> list[Any]:
    """The backbones a study samples: the pinned one, the study's narrowed choices, or all the
    space offers; none when nothing needs resolving (no backbone, --no-pretrained, --weights)."""
    param = space.backbone_param
    if param is None or not options.get("pretrained", True) or "weights" in options:
        return []
    if param in fixed:
        return [fixed[param]]
    if param in space.choices:
        return list(space.choices[param])
    dist = space.explore().get(param)
    if isinstance(dist, optuna.distributions.CategoricalDistribution):
        return list(dist.choices)
    return []


def _fetch(backbones: list[Any], offline: bool) -> tuple[list[Any], dict[Any, str]]:
    have, missing = [], {}
    for backbone in backbones:
        try:
            resolve_weights(str(backbone), download=True, offline=offline)
            have.append(backbone)
        except WeightsError as exc:
            missing[backbone] = exc.cli_message  # spelled by the error that quotes it
    return have, missing


def settle_backbones(
    space: Space, fixed: Mapping[str, Any], options: Mapping[str, Any], offline: bool
) -> dict[str, list[Any]]:
    """For a new study: the backbone choices that have weights here (after any download), as
    `{param: [choices]}`; `{}` when none apply (no backbone param, a pinned backbone,
    --no-pretrained, --weights)."""
    backbones = _choices(space, fixed, options)
    have, missing = _fetch(backbones, offline)
    if not missing:
        return {} if space.backbone_param in fixed or not have else {space.backbone_param: have}
    first = next(iter(missing.values()))
    if not have:
        if len(missing) == 1:
            raise WeightsError(first)
        raise WeightsError(f"none of the {len(missing)} backbones has weights here; {first}")
    log.warning(
        "left out of this study for want of ImageNet weights: %s (searching %s); to include "
        "them, go online or fill the cache and start a new --study",
        ", ".join(map(str, missing)),
        ", ".join(map(str, have)),
    )
    return {space.backbone_param: have}


def study_choices(study: optuna.Study, stored: Mapping[str, list], space: Space) -> dict:
    """The narrowed choices of a study: as stored, or, for a study made before they were
    stored, as its trials recorded them."""
    if stored or space.backbone_param is None:
        return dict(stored)
    for trial in study.get_trials(deepcopy=False):
        dist = trial.distributions.get(space.backbone_param)
        if isinstance(dist, optuna.distributions.CategoricalDistribution):
            return {space.backbone_param: list(dist.choices)}
    return {}


def check_pins(
    choices: Mapping[str, list], fixed: Mapping[str, Any], study: str, widened: Mapping[str, list]
) -> None:
    """A pin on a resumed study must be one of the choices the study was made with: its
    stored ones, else the space's own (`widened` holds those plus a pin outside them)."""
    for name, value in fixed.items():
        values = choices.get(name, list(widened[name][:-1]) if name in widened else None)
        if values is not None and value not in values:
            raise StudyError(
                f"study {study!r} searches {name} among {', '.join(map(str, values))} (its "
                f"choices when it was made), not {value!r}; start a new --study to pin it"
            )


def fetch_study_backbones(
    space: Space, fixed: Mapping[str, Any], options: Mapping[str, Any], offline: bool
) -> None:
    """For a worker: the weights of every backbone the study samples, here, before any trial
    (downloaded unless offline); a missing one is a one-line error."""
    _, missing = _fetch(_choices(space, fixed, options), offline)
    if missing:
        first = next(iter(missing.values()))
        names = ", ".join(map(str, missing))
        raise WeightsError(f"this study samples {names}, without weights here: {first}")
