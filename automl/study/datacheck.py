"""The data check a new study runs on an image folder (see `automl check-data`), and
`--dedupe`: training photos that also appear in the held-out folder are left out."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from pathlib import Path

from automl.data import DataSource
from automl.data.sources import MIN_TRAIN_IMAGES, FolderSource

log = logging.getLogger(__name__)


def check_study_data(
    source: DataSource,
    resolution: int,
    dedupe: bool,
    cache_dir: Path,
    decode_base: int | None = None,
) -> tuple[dict, list[int]]:
    """(what the study records of the check, training-pool rows `--dedupe` leaves out).
    A class of train/ without enough readable images is refused here, in one line, before
    the training pool is decoded or cached."""
    if not isinstance(source, FolderSource):  # --dedupe there is refused (study/check.py)
        return {}, []
    from automl.data.check import check_data

    result = check_data(source.name, source.test_dir, resolution)
    result.refuse_short_classes(MIN_TRAIN_IMAGES)  # before any image is decoded
    summary = dataclasses.replace(
        result.record(),
        ran=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        dedupe=dedupe,
    )
    log.info("data check: %s", result.line())
    across = [p for p in result.pairs if p.scope == "across"]
    excluded: list[int] = []
    if dedupe:
        drop = {p.a.path for p in across}
        pool = source.train_pool(resolution, cache_dir, decode_base)
        excluded = [i for i, name in enumerate(pool.names) if name in drop]
        summary = dataclasses.replace(summary, excluded=len(excluded))
        log.info(
            "--dedupe: %d training photo%s with a copy in the held-out folder left out",
            len(excluded),
            "" if len(excluded) == 1 else "s",
        )
    elif across:
        log.warning(
            "%d photo%s of train/ also appear in the held-out folder (%d exact, %d near "
            "copies): the held-out accuracy would be inflated. List them with `automl "
            "check-data --data %s`; a new study with --dedupe trains without them",
            len(across),
            "" if len(across) == 1 else "s",
            summary.exact_across,
            summary.near_across,
            Path(source.name),
        )
    return summary.to_dict(), excluded
