"""ImageFolder helpers: list class files, hash their bytes, decode them in parallel."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from automl.data import decode, progress
from automl.errors import DataError

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20


def list_classes(folder: Path) -> tuple[str, ...]:
    """Sorted names of the non-hidden subdirectories of `folder`."""
    return tuple(
        sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    )


def list_files(class_dir: Path) -> list[Path]:
    """Every non-hidden file below `class_dir` (recursively), sorted by relative path."""
    found = []
    for path in class_dir.rglob("*"):
        rel = path.relative_to(class_dir)
        if path.is_file() and not any(part.startswith(".") for part in rel.parts):
            found.append(path)
    return sorted(found, key=lambda p: p.relative_to(class_dir).as_posix())


def hash_files(base: Path, paths: Sequence[Path]) -> str:
    """blake2b hex digest of each file's path relative to `base` plus its bytes."""
    digest = hashlib.blake2b(digest_size=32)
    for path in paths:
        digest.update(path.relative_to(base).as_posix().encode() + b"\0")
        digest.update(path.stat().st_size.to_bytes(8, "little"))
        with path.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def load_resized(path: Path, resolution: int, reduced: bool = True) -> torch.Tensor | None:
    """One file as uint8 (3, R, R), or None when it is not a readable image; `reduced`: a
    large JPEG is decoded at a reduced scale first (still at least R px on each side)."""
    at_least = resolution if reduced else None
    img = decode.decode_file(path, at_least)  # looked up on the module so tests can count
    return None if img is None else decode.resize_square(img, resolution)


def decode_folder(
    base: Path,
    files: Sequence[Sequence[Path]],
    classes: Sequence[str],
    resolution: int,
    min_per_class: int,
    reduced: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
    """Decode `files[k]` (class k) to uint8 (N, 3, R, R), int64 labels, and skipped paths."""
    paths = [p for group in files for p in group]
    labels_all = [k for k, group in enumerate(files) for _ in group]
    out = torch.empty((len(paths), 3, resolution, resolution), dtype=torch.uint8)
    labels: list[int] = []
    skipped: list[str] = []
    what = f"decoding {base.name} at {resolution} px"
    every = max(1, len(paths) // 200)  # a few hundred updates at most
    progress.report(what, 0, len(paths))
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        for done, (path, label, img) in enumerate(
            zip(
                paths,
                labels_all,
                pool.map(lambda p: load_resized(p, resolution, reduced), paths),
                strict=True,
            ),
            1,
        ):
            if done % every == 0 or done == len(paths):
                progress.report(what, done, len(paths))
            if img is None:
                skipped.append(path.relative_to(base).as_posix())
                continue
            out[len(labels)] = img
            labels.append(label)
    if skipped:
        logger.warning(
            "skipped %d unreadable file%s in %s: %s%s",
            len(skipped),
            "" if len(skipped) == 1 else "s",
            base,
            ", ".join(skipped[:3]),
            ", ..." if len(skipped) > 3 else "",
        )
    counts = torch.bincount(torch.tensor(labels, dtype=torch.int64), minlength=len(classes))
    for name, count in zip(classes, counts.tolist(), strict=True):
        if count < min_per_class:
            noun = "image" if count == 1 else "images"
            raise DataError(
                f"class {name!r} has {count} usable {noun} in {base}; need at least {min_per_class}"
            )
    return out[: len(labels)], torch.tensor(labels, dtype=torch.int64), tuple(skipped)
