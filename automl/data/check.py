"""`automl check-data`: what a folder of photos holds before anyone trains on it.

Counts per class, unreadable files, images much smaller than the training resolution, and
duplicates: exact (the same bytes) and near (a perceptual hash of a small grayscale version
within a Hamming distance), inside train/ and across train/ and the held-out folder. The
held-out images are only hashed here; no model sees them.
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from automl.data import progress
from automl.data.check_summary import DataCheckSummary
from automl.data.files import list_classes, list_files
from automl.errors import DataError

HASH_SIDE = 32  # the grayscale image the hash is computed from
HASH_BITS = 8  # 8 x 8 lowest DCT frequencies: a 64-bit hash
NEAR = 8  # Hamming distance at or under which two photos count as near-duplicates
SMALL = 0.5  # an image is "small" when its shorter side is under this share of the resolution


def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    d = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2 / n)
    d[0] /= np.sqrt(2)
    return d


_DCT = _dct_matrix(HASH_SIDE)


@dataclass(frozen=True)
class Photo:
    path: str  # relative to its split's folder
    split: str  # "train" or "held-out"
    label: str
    digest: str = ""  # blake2b of the bytes
    size: tuple[int, int] | None = None  # (width, height); None: unreadable
    phash: int = 0


def perceptual_hash(gray: np.ndarray) -> int:
    """64-bit DCT hash of a (HASH_SIDE, HASH_SIDE) grayscale image: which of the lowest 8 x 8
    frequencies are above their median. Survives re-encoding, resizing and mild colour
    changes; a different photo differs in about half of the bits."""
    low = (_DCT @ gray.astype(np.float64) @ _DCT.T)[:HASH_BITS, :HASH_BITS].ravel()
    bits = low > np.median(low)
    return int(np.packbits(bits).view(">u8")[0])


def look_at(path: Path) -> tuple[str, tuple[int, int] | None, int]:
    """(digest, size, hash) of one file; size None when it is not a readable image."""
    digest = hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()
    try:
        with Image.open(path) as im:
            width, height = im.size  # the file's own, before a reduced decode
            if im.getexif().get(0x0112, 1) in (5, 6, 7, 8):  # shown turned a quarter
                width, height = height, width
            im.draft("L", (2 * HASH_SIDE, 2 * HASH_SIDE))  # JPEG: decode at a reduced size
            oriented = ImageOps.exif_transpose(im)
            gray = oriented.convert("L").resize((HASH_SIDE, HASH_SIDE), Image.Resampling.BOX)
            size = (width, height)
        return digest, size, perceptual_hash(np.asarray(gray))
    except Exception:  # any unreadable file is reported, never fatal
        return digest, None, 0


@dataclass(frozen=True)
class Pair:
    kind: str  # "exact" or "near"
    scope: str  # "train" (both in train/) or "across" (one in train/, one held out)
    distance: int
    a: Photo
    b: Photo


@dataclass
class DataCheck:
    train_dir: str
    test_dir: str | None
    classes: list[str]
    resolution: int
    photos: list[Photo] = field(default_factory=list)
    pairs: list[Pair] = field(default_factory=list)

    def counts(self, split: str) -> dict[str, int]:
        found = dict.fromkeys(self.classes, 0)
        for p in self.photos:
            if p.split == split and p.size is not None:
                found[p.label] += 1
        return found

    @property
    def imbalance(self) -> float:
        counts = list(self.counts("train").values())
        return max(counts) / max(1, min(counts)) if counts else 1.0

    @property
    def unreadable(self) -> list[Photo]:
        return [p for p in self.photos if p.size is None]

    @property
    def small(self) -> list[Photo]:
        return [
            p for p in self.photos if p.size is not None and min(p.size) < SMALL * self.resolution
        ]

    def refuse_short_classes(self, at_least: int) -> None:
        """A class of train/ with fewer readable images than training needs: one DataError,
        raised before anything is decoded or cached for it."""
        for name, count in self.counts("train").items():
            if count >= at_least:
                continue
            bad = [p.path for p in self.unreadable if p.split == "train" and p.label == name]
            noun = "image" if count == 1 else "images"
            listed = ", ".join(bad[:3]) + (", ..." if len(bad) > 3 else "")
            unreadable = f" ({len(bad)} unreadable: {listed})" if bad else ""
            raise DataError(
                f"class {name!r} has {count} usable {noun} in {self.train_dir}{unreadable}; "
                f"need at least {at_least}: add readable images to "
                f"{Path(self.train_dir) / name}"
            )

    def count(self, kind: str, scope: str) -> int:
        return sum(p.kind == kind and p.scope == scope for p in self.pairs)

    def summary(self) -> dict:
        """The record below as the dict a study stores (`StudyRecord.data_check`)."""
        return self.record().to_dict()

    def record(self) -> DataCheckSummary:
        """What a study records about its data."""
        return DataCheckSummary(
            exact_train=self.count("exact", "train"),
            near_train=self.count("near", "train"),
            exact_across=self.count("exact", "across"),
            near_across=self.count("near", "across"),
            unreadable=len(self.unreadable),
            small=len(self.small),
            threshold=NEAR,
        )

    def line(self) -> str:
        s = self.record()
        return (
            f"{len(self.photos)} files; duplicates in train: {s.exact_train} exact, "
            f"{s.near_train} near; across train and held-out: {s.exact_across} exact, "
            f"{s.near_across} near; {s.unreadable} unreadable; imbalance "
            f"{self.imbalance:.1f}x"
        )

    def write_pairs(self, path: Path) -> Path:
        from automl.io import atomic_path

        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
            out = csv.writer(fh)
            out.writerow(["kind", "scope", "distance", "a_split", "a", "b_split", "b"])
            for p in self.pairs:
                out.writerow(
                    [p.kind, p.scope, p.distance, p.a.split, p.a.path, p.b.split, p.b.path]
                )
        return path


def _scan(folder: Path, split: str, classes: Sequence[str]) -> list[Photo]:
    files = [(c, p) for c in classes for p in list_files(folder / c)]
    what = f"hashing {folder.name}"
    photos = []
    progress.report(what, 0, len(files))
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        for done, ((label, path), (digest, size, phash)) in enumerate(
            zip(files, pool.map(lambda f: look_at(f[1]), files), strict=True), 1
        ):
            rel = path.relative_to(folder).as_posix()
            photos.append(Photo(rel, split, label, digest, size, phash))
            progress.report(what, done, len(files))
    return photos


def _hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.bitwise_count(a[:, None] ^ b[None, :])


def find_pairs(photos: Sequence[Photo], near: int = NEAR) -> list[Pair]:
    """Exact and near-duplicate pairs within train/ and across train/ and held-out."""
    readable = [p for p in photos if p.size is not None]
    train = [p for p in photos if p.split == "train"]
    held = [p for p in photos if p.split != "train"]
    pairs: list[Pair] = []

    by_digest: dict[str, list[Photo]] = {}
    for p in photos:
        by_digest.setdefault(p.digest, []).append(p)
    exact = set()
    for group in by_digest.values():
        for i, a in enumerate(group):
            for b in group[i + 1 :]:
                if a.split == "train" or b.split == "train":
                    a, b = (a, b) if a.split == "train" else (b, a)
                    scope = "train" if b.split == "train" else "across"
                    pairs.append(Pair("exact", scope, 0, a, b))
                    exact.add((a.split, a.path, b.split, b.path))

    hashes = {id(p): p.phash for p in readable}
    t = [p for p in train if id(p) in hashes]
    h = [p for p in held if id(p) in hashes]
    tv = np.array([p.phash for p in t], dtype=np.uint64)
    hv = np.array([p.phash for p in h], dtype=np.uint64)
    step = 1024
    for start in range(0, len(t), step):
        rows = tv[start : start + step]
        within = _hamming(rows, tv)
        for i, j in zip(*np.nonzero(within <= near), strict=True):
            if start + i < j:
                _add_near(pairs, exact, t[start + i], t[j], int(within[i, j]), "train")
        if len(hv):
            across = _hamming(rows, hv)
            for i, j in zip(*np.nonzero(across <= near), strict=True):
                _add_near(pairs, exact, t[start + i], h[j], int(across[i, j]), "across")
    return pairs


def _add_near(pairs, exact, a: Photo, b: Photo, distance: int, scope: str) -> None:
    if (a.split, a.path, b.split, b.path) not in exact:
        pairs.append(Pair("near", scope, distance, a, b))


def check_data(
    data: str | Path, test_dir: str | Path | None = None, resolution: int = 128
) -> DataCheck:
    """Look at every file of an ImageFolder root's train/ and its held-out folder."""
    root = Path(data).expanduser().resolve()
    train = root / "train"
    if not train.is_dir():
        raise DataError(f"no train/ folder in {root}; --data takes an ImageFolder root")
    classes = list(list_classes(train))
    if not classes:
        raise DataError(f"{train} holds no class folders; expected train/<class>/<images>")
    test = Path(test_dir).expanduser().resolve() if test_dir else root / "test"
    result = DataCheck(str(train), str(test) if test.is_dir() else None, classes, resolution)
    if test_dir is not None and not test.is_dir():
        raise DataError(f"held-out folder {test} does not exist; check --test-dir")
    result.photos = _scan(train, "train", classes)
    if result.test_dir:
        held_classes = [c for c in classes if (test / c).is_dir()]
        result.photos += _scan(test, "held-out", held_classes)
    result.pairs = find_pairs(result.photos)
    return result
