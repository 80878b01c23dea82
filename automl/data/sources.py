"""Where images come from: the built-in digits or an ImageFolder root (train/ + held-out)."""

from __future__ import annotations

import functools
import hashlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from automl.data import cache
from automl.data.decode import resize_square, shrink
from automl.data.files import decode_folder, hash_files, list_classes, list_files, load_resized
from automl.errors import DataError

MIN_TRAIN_IMAGES = 2  # per class: one to train on and one to validate on


@dataclass(frozen=True)
class ImageSet:
    images: torch.Tensor  # uint8 (N, C, R, R); may be memory-mapped: treat as read-only
    labels: torch.Tensor  # int64 (N,)
    classes: tuple[str, ...]
    names: tuple[str, ...] = ()  # each row's file, relative to its folder (image folders)


class DataSource(ABC):
    name: str
    test_dir: str | None
    classes: tuple[str, ...]
    channels: int
    fingerprint: str  # content hash of the training pool only
    test_fingerprint: str | None = None  # content hash of the held-out folder (image folders)
    default_resolution: int | None = None  # pinned when the user fixes none (tiny native images)

    @abstractmethod
    def train_pool(self, resolution: int, cache_dir: Path, base: int | None = None) -> ImageSet:
        """Images that search trials may train and validate on (decoded once, cached).
        `base`: a larger resolution decoded once, that this one is resized from."""

    @abstractmethod
    def held_out(self, resolution: int, cache_dir: Path, base: int | None = None) -> ImageSet:
        """The held-out split; only the final scoring reads it."""

    @abstractmethod
    def held_out_index(self) -> list[tuple[str, int]]:
        """(name, label) of every held-out item in a fixed order; nothing is decoded."""

    @abstractmethod
    def held_out_items(self, indices: Sequence[int], resolution: int) -> tuple[ImageSet, list[int]]:
        """Decode only the held-out items at `indices` (positions in `held_out_index()`), not
        through the cache; returns them and the indices that decoded (unreadable ones drop)."""

    @property
    @abstractmethod
    def train_files(self) -> int:
        """How many items the training pool holds (before unreadable files are dropped)."""

    def held_out_count(self) -> int:
        return len(self.held_out_index())

    def describe(self) -> dict:
        return {
            "data": self.name,
            "test_dir": self.test_dir,
            "fingerprint": self.fingerprint,
            "test_fingerprint": self.test_fingerprint,
            "train_files": self.train_files,
            "classes": list(self.classes),
            "channels": self.channels,
        }


class DigitsSource(DataSource):
    """sklearn's 1797 8x8 digits; a fixed stratified 20% is held out."""

    def __init__(self) -> None:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        bunch = load_digits()
        pixels = np.rint(bunch.images * 255.0 / 16.0).clip(0, 255).astype(np.uint8)
        self._images = torch.from_numpy(pixels).unsqueeze(1)  # (N, 1, 8, 8)
        self._labels = torch.from_numpy(bunch.target.astype(np.int64))
        train, test = train_test_split(
            np.arange(len(pixels)), test_size=0.2, stratify=bunch.target, random_state=0
        )
        self._split = {"train": np.sort(train), "test": np.sort(test)}
        digest = hashlib.blake2b(digest_size=32)
        digest.update(pixels.tobytes())
        digest.update(bunch.target.astype(np.int64).tobytes())
        self.name = "digits"
        self.test_dir = None
        self.classes = tuple(str(k) for k in range(10))
        self.channels = 1
        self.default_resolution = 32  # 8x8 scans: searching 128 px would only cost time
        self.fingerprint = digest.hexdigest()

    @property
    def train_files(self) -> int:
        return len(self._split["train"])

    def _subset(self, kind: str, resolution: int, cache_dir: Path) -> ImageSet:
        idx = torch.from_numpy(self._split[kind])

        def build() -> cache.Entry:
            return cache.Entry(resize_square(self._images[idx], resolution), self._labels[idx])

        entry = cache.load_or_build(
            cache_dir, kind, self.fingerprint, resolution, self.classes, build
        )
        return ImageSet(entry.images, entry.labels, self.classes)

    def train_pool(self, resolution: int, cache_dir: Path, base: int | None = None) -> ImageSet:
        return self._subset("train", resolution, cache_dir)  # 8x8 scans: nothing to decode

    def held_out(self, resolution: int, cache_dir: Path, base: int | None = None) -> ImageSet:
        return self._subset("test", resolution, cache_dir)

    def held_out_index(self) -> list[tuple[str, int]]:
        return [(f"load_digits()[{i}]", int(self._labels[i])) for i in self._split["test"]]

    def held_out_items(self, indices: Sequence[int], resolution: int) -> tuple[ImageSet, list[int]]:
        rows = torch.as_tensor(self._split["test"][list(indices)], dtype=torch.int64)
        images = resize_square(self._images[rows], resolution)
        return ImageSet(images, self._labels[rows], self.classes), list(indices)


class FolderSource(DataSource):
    """`root/train/<class>/**` for the pool; `test_dir/<class>/**` (default root/test) held out."""

    def __init__(self, root: Path, test_dir: Path | None) -> None:
        hint = "pass --data DIR holding train/<class>/*.jpg, or omit --data for the built-in digits"
        if not root.exists():
            raise DataError(f"data root {root} does not exist; {hint}")
        if not root.is_dir():
            raise DataError(f"data root {root} is not a directory; {hint}")
        train = root / "train"
        if not train.is_dir():
            raise DataError(f"no train/ folder in {root}; expected {train}/<class>/*.jpg")
        classes = list_classes(train)
        if not classes:
            raise DataError(f"no class folders in {train}; expected {train}/<class>/*.jpg")
        if len(classes) == 1:
            raise DataError(
                f"{train} holds one class ({classes[0]}); a classifier needs at least 2 "
                f"classes: add a folder per class, {train}/<class>/*.jpg"
            )
        files = [list_files(train / c) for c in classes]
        for name, group in zip(classes, files, strict=True):
            if not group:
                raise DataError(
                    f"class folder {train / name} has no files; add images or remove the folder"
                )
        test = (test_dir if test_dir is not None else root / "test").expanduser().resolve()
        if not test.is_dir():
            raise DataError(
                f"held-out folder {test} does not exist; "
                "pass --test-dir DIR (for iNaturalist-style layouts, ROOT/val)"
            )
        if test == train.resolve() or test == root.resolve():
            raise DataError(
                f"the held-out folder {test} is the training data; pass --test-dir with a "
                f"folder of other images (for iNaturalist-style layouts, {root}/val)"
            )
        test_classes = list_classes(test)
        if test_classes != classes:
            missing = sorted(set(classes) - set(test_classes))
            extra = sorted(set(test_classes) - set(classes))
            raise DataError(
                f"held-out classes in {test} differ from training classes: "
                f"missing {missing}, extra {extra}"
            )
        _refuse_shared_files(train, files, test, classes)
        self._train, self._test, self._files = train, test, files
        self.name = str(root)
        self.test_dir = str(test)
        self.classes = classes
        self.channels = 3

    @property
    def train_files(self) -> int:
        return sum(map(len, self._files))

    @functools.cached_property
    def test_fingerprint(self) -> str:  # reads every held-out file: only when asked
        return hash_files(self._test, [p for p, _ in self._held_out_files])

    @functools.cached_property
    def fingerprint(self) -> str:  # reads every training file: only when asked
        return hash_files(self._train, [p for group in self._files for p in group])

    def train_pool(self, resolution: int, cache_dir: Path, base: int | None = None) -> ImageSet:
        files, fingerprint = self._files, self.fingerprint
        return self._load("train", self._train, files, fingerprint, resolution, cache_dir, base)

    def held_out(self, resolution: int, cache_dir: Path, base: int | None = None) -> ImageSet:
        files = [list_files(self._test / c) for c in self.classes]
        fingerprint = hash_files(self._test, [p for group in files for p in group])
        return self._load("test", self._test, files, fingerprint, resolution, cache_dir, base)

    @functools.cached_property
    def _held_out_files(self) -> list[tuple[Path, int]]:
        return [(p, k) for k, c in enumerate(self.classes) for p in list_files(self._test / c)]

    def held_out_index(self) -> list[tuple[str, int]]:
        return [(p.relative_to(self._test).as_posix(), k) for p, k in self._held_out_files]

    def held_out_items(self, indices: Sequence[int], resolution: int) -> tuple[ImageSet, list[int]]:
        files = self._held_out_files
        kept, images, labels = [], [], []
        for i in indices:
            path, label = files[i]
            img = load_resized(path, resolution)
            if img is not None:
                kept.append(i)
                images.append(img)
                labels.append(label)
        stacked = torch.stack(images) if images else torch.empty(0, 3, resolution, resolution)
        return ImageSet(stacked.to(torch.uint8), torch.tensor(labels), self.classes), kept

    def _load(
        self,
        kind: str,
        base: Path,
        files: list[list[Path]],
        fingerprint: str,
        resolution: int,
        cache_dir: Path,
        decode_base: int | None = None,
    ) -> ImageSet:
        """Decoded at `resolution`, or, given a larger `decode_base`, resized from the images
        decoded once at that resolution (the entry is keyed by both, so it is stable)."""
        min_per_class = MIN_TRAIN_IMAGES if kind == "train" else 1
        variant = ""
        if decode_base is not None and decode_base > resolution:
            variant = f"from{decode_base}"

            def build() -> cache.Entry:
                big = cache.load_or_build(
                    cache_dir, kind, fingerprint, decode_base, self.classes, decode_big
                )
                return cache.Entry(shrink(big.images, resolution), big.labels, big.skipped)

            def decode_big() -> cache.Entry:
                return cache.Entry(
                    *decode_folder(base, files, self.classes, decode_base, min_per_class)
                )
        else:

            def build() -> cache.Entry:
                return cache.Entry(
                    *decode_folder(base, files, self.classes, resolution, min_per_class)
                )

        entry = cache.load_or_build(
            cache_dir, kind, fingerprint, resolution, self.classes, build, variant
        )
        skipped = set(entry.skipped)
        names = [p.relative_to(base).as_posix() for group in files for p in group]
        names = tuple(n for n in names if n not in skipped)
        return ImageSet(entry.images, entry.labels, self.classes, names)


def _refuse_shared_files(
    train: Path, files: list[list[Path]], test: Path, classes: Sequence[str]
) -> None:
    """The held-out folder may not hold the training files themselves (the same file under
    another path: a symlinked or hard-linked folder). Copies are the data check's business."""

    def identity(path: Path) -> tuple[int, int]:
        st = path.stat()
        return st.st_dev, st.st_ino

    seen = {identity(path): path for group in files for path in group}
    held_out = [p for c in classes for p in list_files(test / c)]
    shared = [(p, seen[identity(p)]) for p in held_out if identity(p) in seen]
    if shared:
        held, trained = shared[0]
        raise DataError(
            f"the held-out folder {test} shares {len(shared)} files with {train} (e.g. {held} "
            f"is {trained}); pass --test-dir with a folder of other images"
        )


def open_source(data: str | Path | None = None, test_dir: str | Path | None = None) -> DataSource:
    """Open the built-in digits (`data` None or "digits") or an ImageFolder root."""
    if data is None or (isinstance(data, str) and data == "digits"):
        if test_dir is not None:
            raise DataError(
                "--test-dir only applies to an image folder; the built-in digits hold out a "
                "fixed 20%; pass --data DIR or drop --test-dir"
            )
        return DigitsSource()
    root = Path(data).expanduser().resolve()
    return FolderSource(root, None if test_dir is None else Path(test_dir))
