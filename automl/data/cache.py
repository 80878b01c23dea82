"""Decode-once disk cache of resized uint8 images, memory-mapped on load.

Entry layout: `cache_dir/<kind>-<fingerprint[:20]>-<R>px/{images.u8,meta.json}`. An entry is
built in a hidden temp dir inside `cache_dir` and renamed into place, so a crash never leaves
a half-written entry under the final name.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from automl.io import umask

logger = logging.getLogger(__name__)

FORMAT = 1
KINDS = ("train", "test")


@dataclass(frozen=True)
class Entry:
    images: torch.Tensor  # uint8 (N, C, R, R)
    labels: torch.Tensor  # int64 (N,)
    skipped: tuple[str, ...] = ()


Builder = Callable[[], Entry]

_memo: dict[tuple[str, str, str, int, str], Entry] = {}
_lock = threading.RLock()


def clear_memo() -> None:
    """Forget in-process entries (the disk cache stays); a new process starts like this."""
    with _lock:
        _memo.clear()


def entry_dir(
    cache_dir: Path, kind: str, fingerprint: str, resolution: int, variant: str = ""
) -> Path:
    """`variant` tells entries made another way apart ("from128": resized from 128 px)."""
    suffix = f"-{variant}" if variant else ""
    return Path(cache_dir) / f"{kind}-{fingerprint[:20]}-{resolution}px{suffix}"


def _read(folder: Path, fingerprint: str) -> Entry | None:
    try:
        meta = json.loads((folder / "meta.json").read_text())
        shape = tuple(int(s) for s in meta["shape"])
        size = math.prod(shape)
        path = folder / "images.u8"
        if meta.get("format") != FORMAT or meta.get("fingerprint") != fingerprint:
            raise ValueError("format or fingerprint mismatch")
        if path.stat().st_size != size or len(meta["labels"]) != shape[0]:
            raise ValueError("images.u8 size does not match meta.json")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        logger.warning("ignoring broken cache entry %s (%s); rebuilding it", folder, exc)
        return None
    images = torch.from_file(str(path), shared=False, size=size, dtype=torch.uint8).view(shape)
    labels = torch.tensor(meta["labels"], dtype=torch.int64)
    return Entry(images, labels, tuple(meta.get("skipped", ())))


def _write(final: Path, entry: Entry, meta: dict) -> Entry:
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}-", dir=final.parent))
    try:
        entry.images.contiguous().numpy().tofile(tmp / "images.u8")
        (tmp / "meta.json").write_text(json.dumps(meta))
        os.chmod(tmp, 0o777 & ~umask())  # mkdtemp makes it owner-only; follow the umask
        try:
            tmp.rename(final)
        except OSError:
            if not (final / "meta.json").exists():
                raise
            logger.debug("another process wrote %s first; using theirs", final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    loaded = _read(final, meta["fingerprint"])
    if loaded is None:
        raise OSError(f"cache entry {final} could not be read back after writing it")
    return loaded


def load_or_build(
    cache_dir: Path,
    kind: str,
    fingerprint: str,
    resolution: int,
    classes: Sequence[str],
    build: Builder,
    variant: str = "",
) -> Entry:
    """Return the cached entry for (kind, fingerprint, resolution, variant), building it on a
    miss (`build` may itself load another entry: the lock is re-entrant)."""
    if kind not in KINDS:
        raise ValueError(f"cache kind must be one of {KINDS}, got {kind!r}")
    final = entry_dir(cache_dir, kind, fingerprint, resolution, variant)
    key = (str(Path(cache_dir).resolve()), kind, fingerprint, resolution, variant)
    with _lock:
        if key in _memo:
            return _memo[key]
        entry = _read(final, fingerprint) if (final / "meta.json").exists() else None
        if entry is not None:
            logger.debug("loaded %s from cache", final)
        else:
            if final.exists():
                shutil.rmtree(final, ignore_errors=True)
            how = (
                f"resizing {kind} images from {variant[4:]}px"
                if variant
                else f"decoding {kind} images"
            )
            logger.info("%s at %dpx into %s", how, resolution, final)
            built = build()
            meta = {
                "format": FORMAT,
                "kind": kind,
                "fingerprint": fingerprint,
                "resolution": resolution,
                "variant": variant,
                "shape": list(built.images.shape),
                "labels": built.labels.tolist(),
                "classes": list(classes),
                "skipped": list(built.skipped),
            }
            entry = _write(final, built, meta)
        _memo[key] = entry
        return entry
