from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from automl.data import cache, clear_memo, decode, open_source

from .conftest import FORMATS, IGNORE_TV_DEPRECATION, MakeFolder

pytestmark = IGNORE_TV_DEPRECATION

N_FILES = len(FORMATS) + 2 + 3  # cat formats + two broken files + three dogs


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Record every decode_file call (the data layer looks it up on the decode module)."""
    seen: list[Path] = []
    real = decode.decode_file

    def counting(path: Path, at_least: int | None = None) -> torch.Tensor | None:
        seen.append(path)
        return real(path, at_least)

    monkeypatch.setattr(decode, "decode_file", counting)
    return seen


def test_second_call_decodes_nothing(
    make_folder: MakeFolder, tmp_path: Path, calls: list[Path]
) -> None:
    source = open_source(make_folder())
    cache_dir = tmp_path / "cache"
    first = source.train_pool(16, cache_dir)
    assert len(calls) == N_FILES
    calls.clear()

    again = source.train_pool(16, cache_dir)  # in-process memo
    assert again.images is first.images
    clear_memo()  # what a new process sees: only the disk cache
    reopened = open_source(source.name).train_pool(16, cache_dir)
    assert calls == []
    assert torch.equal(reopened.images, first.images)
    assert torch.equal(reopened.labels, first.labels)
    assert reopened.classes == first.classes

    entry = cache_dir / f"train-{source.fingerprint[:20]}-16px"
    assert sorted(p.name for p in entry.iterdir()) == ["images.u8", "meta.json"]
    meta = json.loads((entry / "meta.json").read_text())
    assert meta["shape"] == [N_FILES - 2, 3, 16, 16]
    assert meta["classes"] == ["cat", "dog"]
    assert sorted(meta["skipped"]) == ["cat/corrupt.jpg", "cat/notes.txt"]
    assert [p.name for p in cache_dir.iterdir() if p.name.startswith(".")] == []


def test_new_resolution_and_held_out_get_their_own_entries(
    make_folder: MakeFolder, tmp_path: Path, calls: list[Path]
) -> None:
    source = open_source(make_folder())
    cache_dir = tmp_path / "cache"
    source.train_pool(16, cache_dir)
    source.train_pool(24, cache_dir)
    assert len(calls) == 2 * N_FILES
    held = source.held_out(16, cache_dir)
    assert tuple(held.images.shape) == (4, 3, 16, 16)
    names = sorted(p.name for p in cache_dir.iterdir())
    assert [n.split("-")[0] + "-" + n.split("-")[2] for n in names] == [
        "test-16px",
        "train-16px",
        "train-24px",
    ]


def test_leftover_temp_dir_is_not_loaded(
    make_folder: MakeFolder, tmp_path: Path, calls: list[Path]
) -> None:
    source = open_source(make_folder())
    final = cache.entry_dir(tmp_path, "train", source.fingerprint, 16)
    leftover = tmp_path / f".tmp-{final.name}-crashed"
    leftover.mkdir()
    (leftover / "images.u8").write_bytes(b"\x00" * 10)
    pool = source.train_pool(16, tmp_path)
    assert len(calls) == N_FILES
    assert tuple(pool.images.shape) == (N_FILES - 2, 3, 16, 16)


def test_crash_before_rename_leaves_no_entry(
    make_folder: MakeFolder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = open_source(make_folder())

    def crash(self: Path, target: Path) -> None:
        raise KeyboardInterrupt

    cache_dir = tmp_path / "cache"
    with monkeypatch.context() as patch:
        patch.setattr(Path, "rename", crash)
        with pytest.raises(KeyboardInterrupt):
            source.train_pool(16, cache_dir)
    assert list(cache_dir.iterdir()) == []
    assert tuple(source.train_pool(16, cache_dir).images.shape) == (N_FILES - 2, 3, 16, 16)


def test_truncated_entry_is_rebuilt(
    make_folder: MakeFolder, tmp_path: Path, calls: list[Path]
) -> None:
    source = open_source(make_folder())
    first = source.train_pool(16, tmp_path).images.clone()
    clear_memo()
    images = cache.entry_dir(tmp_path, "train", source.fingerprint, 16) / "images.u8"
    images.write_bytes(images.read_bytes()[:100])
    calls.clear()
    assert torch.equal(source.train_pool(16, tmp_path).images, first)
    assert len(calls) == N_FILES


def test_lost_race_uses_the_other_writer(make_folder: MakeFolder, tmp_path: Path) -> None:
    source = open_source(make_folder())
    theirs = source.train_pool(16, tmp_path / "a")
    final = cache.entry_dir(tmp_path / "b", "train", source.fingerprint, 16)
    real_rename = Path.rename

    def other_process_wins(self: Path, target: Path) -> Path:
        final.mkdir(parents=True)
        src = cache.entry_dir(tmp_path / "a", "train", source.fingerprint, 16)
        for name in ("images.u8", "meta.json"):
            (final / name).write_bytes((src / name).read_bytes())
        return real_rename(self, target)  # fails: the target is not empty

    clear_memo()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Path, "rename", other_process_wins)
        mine = source.train_pool(16, tmp_path / "b")
    assert torch.equal(mine.images, theirs.images)
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == [final.name]


def test_each_file_is_decoded_once_for_every_resolution_below_the_base(
    make_folder: MakeFolder, tmp_path: Path, calls: list[Path]
) -> None:
    source = open_source(make_folder())
    cache_dir = tmp_path / "cache"
    pools = {r: source.train_pool(r, cache_dir, base=24) for r in (8, 16, 24)}
    assert len(calls) == N_FILES  # decoded at 24 px only
    big = pools[24]
    for r in (8, 16):
        assert torch.equal(pools[r].images, decode.shrink(big.images, r))
        assert torch.equal(pools[r].labels, big.labels) and pools[r].names == big.names
    entries = sorted(p.name.split("-", 2)[2] for p in cache_dir.iterdir())
    assert entries == ["16px-from24", "24px", "8px-from24"]
    # stable: a new process rebuilding a derived entry gets the very same bytes
    shutil.rmtree(cache_dir / f"train-{source.fingerprint[:20]}-16px-from24")
    clear_memo()
    calls.clear()
    again = open_source(source.name).train_pool(16, cache_dir, base=24)
    assert calls == [] and torch.equal(again.images, pools[16].images)
    # without a base, a resolution is decoded on its own, as studies made before did
    direct = source.train_pool(16, cache_dir)
    assert len(calls) == N_FILES and direct.images.shape == pools[16].images.shape


def test_a_large_jpeg_decodes_reduced_but_never_under_the_target(tmp_path: Path) -> None:
    from PIL import Image

    path = tmp_path / "big.jpg"
    Image.new("RGB", (800, 600), (200, 40, 90)).save(path)
    full = decode.decode_file(path)
    reduced = decode.decode_file(path, at_least=128)
    assert tuple(full.shape) == (3, 600, 800)
    assert min(reduced.shape[1:]) >= 128 and reduced.shape[1] < 600
    assert tuple(decode.decode_file(path, at_least=400).shape) == (3, 600, 800)  # not 2x
    assert (reduced.float().mean((1, 2)) - full.float().mean((1, 2))).abs().max() < 2
