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

from automl.errors import WeightsError
from automl.models.pretrained import resolve_weights

log = logging.getLogger(__name__)


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
    param: str | None, backbones: list[Any], fixed: Mapping[str, Any], offline: bool
) -> dict[str, list[Any]]:
    """For a new study: which of its `backbones` (`Space.backbones`) have weights here (after
    any download), as `{param: [choices]}`; `{}` when none apply (no backbone to settle, or a
    pinned one)."""
    have, missing = _fetch(backbones, offline)
    if not missing:
        return {} if param in fixed or not have else {param: have}
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
    return {param: have}


def fetch_study_backbones(backbones: list[Any], offline: bool) -> None:
    """The weights of every backbone a study samples (`Space.backbones`), here before any
    trial (downloaded unless offline); a missing one is a one-line error."""
    _, missing = _fetch(backbones, offline)
    if missing:
        first = next(iter(missing.values()))
        names = ", ".join(map(str, missing))
        raise WeightsError(f"this study samples {names}, without weights here: {first}")
