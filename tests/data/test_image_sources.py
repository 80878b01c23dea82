from __future__ import annotations

import json
import logging
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from automl.data import decode, open_source
from automl.errors import DataError

from .conftest import FORMATS, IGNORE_TV_DEPRECATION, MakeFolder, write_image

pytestmark = IGNORE_TV_DEPRECATION


def test_open_folder_describes_without_decoding(
    make_folder: MakeFolder, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_folder()
    monkeypatch.setattr(decode, "decode_file", lambda path: pytest.fail("decoded at open"))
    source = open_source(str(root))
    assert source.classes == ("cat", "dog")
    assert source.channels == 3
    info = source.describe()
    assert json.loads(json.dumps(info)) == info
    assert info["data"] == str(root.resolve())
    assert info["test_dir"] == str((root / "test").resolve())
    assert info["classes"] == ["cat", "dog"] and info["channels"] == 3
    assert len(info["fingerprint"]) == 64 and int(info["fingerprint"], 16) >= 0


def test_train_pool_shapes_labels_and_one_warning(
    make_folder: MakeFolder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = open_source(make_folder())
    with caplog.at_level(logging.WARNING, logger="automl.data"):
        pool = source.train_pool(16, tmp_path / "cache")
    assert pool.images.dtype == torch.uint8 and tuple(pool.images.shape) == (
        len(FORMATS) + 3,
        3,
        16,
        16,
    )
    assert pool.labels.dtype == torch.int64
    assert pool.labels.tolist() == [0] * len(FORMATS) + [1] * 3
    assert pool.classes == ("cat", "dog")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert "skipped 2 unreadable files" in message
    assert "cat/corrupt.jpg" in message and "cat/notes.txt" in message
    assert ".DS_Store" not in message


def test_held_out_uses_given_test_dir(make_folder: MakeFolder, tmp_path: Path) -> None:
    root = make_folder()
    shutil.move(root / "test", root / "val")
    source = open_source(root, test_dir=root / "val")
    assert source.test_dir == str((root / "val").resolve())
    held = source.held_out(12, tmp_path / "cache")
    assert tuple(held.images.shape) == (4, 3, 12, 12)
    assert held.labels.tolist() == [0, 0, 1, 1]


def test_held_out_items_decode_only_the_chosen_files(
    make_folder: MakeFolder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_folder(test_per_class=3)
    (root / "test" / "dog" / "dog1.jpg").write_bytes(b"not a jpeg")
    source = open_source(root)
    decoded = []
    original = decode.decode_file
    monkeypatch.setattr(decode, "decode_file", lambda p, *a: decoded.append(p) or original(p, *a))
    index = source.held_out_index()
    assert index == [
        ("cat/cat0.jpg", 0), ("cat/cat1.jpg", 0), ("cat/cat2.jpg", 0),
        ("dog/dog0.jpg", 1), ("dog/dog1.jpg", 1), ("dog/dog2.jpg", 1),
    ]  # fmt: skip
    assert decoded == []  # listing decodes nothing
    images, kept = source.held_out_items([1, 4, 5], 10)
    assert [p.relative_to(root / "test").as_posix() for p in decoded] == [
        "cat/cat1.jpg", "dog/dog1.jpg", "dog/dog2.jpg",
    ]  # fmt: skip
    assert kept == [1, 5]  # the broken file drops out
    assert tuple(images.images.shape) == (2, 3, 10, 10) and images.images.dtype == torch.uint8
    assert images.labels.tolist() == [0, 1]
    full = source.held_out(10, tmp_path / "cache")  # same pixels as the cached split
    assert torch.equal(images.images[0], full.images[1])


def test_digits_held_out_items_match_the_held_out_split(tmp_path: Path) -> None:
    source = open_source()
    index = source.held_out_index()
    full = source.held_out(16, tmp_path / "cache")
    assert [label for _, label in index] == full.labels.tolist()
    images, kept = source.held_out_items([0, 7, 359], 16)
    assert kept == [0, 7, 359]
    assert torch.equal(images.images, full.images[[0, 7, 359]])
    assert images.labels.tolist() == full.labels[[0, 7, 359]].tolist()


def test_hidden_class_folders_are_ignored(make_folder: MakeFolder) -> None:
    root = make_folder()
    write_image(root / "train" / ".thumbs" / "x.jpg", seed=9)
    assert open_source(root).classes == ("cat", "dog")


def test_fingerprint_is_stable_and_tracks_training_bytes(make_folder: MakeFolder) -> None:
    root = make_folder()
    first = open_source(root).fingerprint
    assert open_source(root).fingerprint == first
    write_image(root / "test" / "cat" / "cat0.jpg", seed=99)  # held-out files are not hashed
    assert open_source(root).fingerprint == first
    write_image(root / "train" / "dog" / "dog0.jpg", seed=99)
    assert open_source(root).fingerprint != first


def _expect(root: Path, match: str, test_dir: Path | None = None) -> None:
    with pytest.raises(DataError, match=match):
        open_source(root, test_dir=test_dir)


def test_open_errors(make_folder: MakeFolder, tmp_path: Path) -> None:
    _expect(tmp_path / "nope", r"data root .*nope does not exist; pass data=DIR")
    (tmp_path / "file").write_text("x")
    _expect(tmp_path / "file", r"data root .*file is not a directory")
    (tmp_path / "empty").mkdir()
    _expect(tmp_path / "empty", r"no train/ folder in .*empty")
    (tmp_path / "empty" / "train").mkdir()
    _expect(tmp_path / "empty", r"no class folders in .*train; expected .*train/<class>/\*\.jpg")

    root = make_folder()
    (root / "train" / "eel").mkdir()
    (root / "test" / "eel").mkdir()
    _expect(root, r"class folder .*eel has no files")
    shutil.rmtree(root / "train" / "eel")
    shutil.rmtree(root / "test" / "eel")

    _expect(
        root, r"held-out folder .*elsewhere does not exist; pass test_dir=DIR", root / "elsewhere"
    )
    shutil.move(root / "test", root / "val")
    _expect(root, r"held-out folder .*test does not exist; .*ROOT/val")
    (root / "val" / "cow").mkdir()
    shutil.rmtree(root / "val" / "dog")
    _expect(
        root,
        r"held-out classes in .*val differ .*: missing \['dog'\], extra \['cow'\]",
        root / "val",
    )


def test_class_with_one_usable_image_fails_after_decoding(
    make_folder: MakeFolder, tmp_path: Path
) -> None:
    root = make_folder(dogs=1)
    (root / "train" / "dog" / "broken.jpg").write_bytes(b"nope")
    source = open_source(root)  # only decoding can tell
    with pytest.raises(
        DataError, match=r"class 'dog' has 1 usable image in .*train; need at least 2"
    ):
        source.train_pool(8, tmp_path / "cache")
    assert not list((tmp_path / "cache").glob("train-*"))  # nothing cached


def test_digits_rejects_test_dir(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="test_dir"):
        open_source("digits", test_dir=tmp_path)


def _rows(images: torch.Tensor, labels: torch.Tensor) -> Counter:
    flat = images.reshape(len(images), -1).numpy()
    return Counter(row.tobytes() + bytes([y]) for row, y in zip(flat, labels.tolist(), strict=True))


def test_digits_split_is_fixed_disjoint_and_stratified(tmp_path: Path) -> None:
    from sklearn.datasets import load_digits

    source = open_source()
    assert source.name == "digits" and source.test_dir is None and source.channels == 1
    assert source.classes == tuple(str(k) for k in range(10))
    pool, held = source.train_pool(8, tmp_path), source.held_out(8, tmp_path)
    assert tuple(pool.images.shape) == (1437, 1, 8, 8) and tuple(held.images.shape) == (
        360,
        1,
        8,
        8,
    )
    assert int(pool.images.max()) == 255 and pool.images.dtype == torch.uint8

    bunch = load_digits()
    full = torch.from_numpy(np.rint(bunch.images * 255 / 16).astype(np.uint8)).unsqueeze(1)
    assert _rows(pool.images, pool.labels) + _rows(held.images, held.labels) == _rows(
        full, torch.from_numpy(bunch.target)
    )
    counts = np.bincount(bunch.target)
    assert np.all(np.abs(held.labels.bincount().numpy() - 0.2 * counts) <= 1)
    assert open_source("digits").fingerprint == source.fingerprint

    big = source.train_pool(32, tmp_path)
    assert tuple(big.images.shape) == (1437, 1, 32, 32)
    assert torch.equal(big.labels, pool.labels)
