"""`automl check-data` on real photos with planted duplicates: every planted pair is found,
and no pair is reported among the original photos."""

import csv
import shutil
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from automl.cli import app
from automl.data.check import check_data

HYMENOPTERA = next(
    (
        p
        for p in (
            Path(__file__).resolve().parents[3] / "shared/data/hymenoptera",
            Path("/work/shared/data/hymenoptera"),
        )
        if (p / "train").is_dir()
    ),
    Path("/work/shared/data/hymenoptera"),
)
needs_photos = pytest.mark.skipif(not HYMENOPTERA.is_dir(), reason=f"no photos at {HYMENOPTERA}")


def _link_tree(src: Path, dst: Path) -> None:
    for path in sorted(src.rglob("*")):
        if path.is_file():
            target = dst / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(path)


def _reencode(src: Path, dst: Path, scale: float, quality: int) -> None:
    with Image.open(src) as im:
        w, h = im.size
        im.convert("RGB").resize((int(w * scale), int(h * scale))).save(dst, quality=quality)


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> tuple[Path, set[tuple[str, str, str, str]]]:
    root = tmp_path_factory.mktemp("planted")
    _link_tree(HYMENOPTERA / "train", root / "train")
    _link_tree(HYMENOPTERA / "val", root / "val")
    ants = sorted((HYMENOPTERA / "train" / "ants").iterdir())
    bees = sorted((HYMENOPTERA / "train" / "bees").iterdir())
    val_ants = sorted((HYMENOPTERA / "val" / "ants").iterdir())
    expected = set()
    # exact copies: one inside train/, one across into the held-out folder
    shutil.copy(ants[0], root / "train" / "ants" / "copy_a0.jpg")
    expected.add(("exact", "train", f"ants/{ants[0].name}", "ants/copy_a0.jpg"))
    shutil.copy(bees[1], root / "val" / "bees" / "copy_b1.jpg")
    expected.add(("exact", "across", f"bees/{bees[1].name}", "bees/copy_b1.jpg"))
    # re-encoded, resized copies: inside train/, train -> held-out, held-out -> train
    _reencode(ants[5], root / "train" / "ants" / "small_a5.jpg", 0.5, 70)
    expected.add(("near", "train", f"ants/{ants[5].name}", "ants/small_a5.jpg"))
    _reencode(bees[7], root / "val" / "bees" / "big_b7.jpg", 1.5, 85)
    expected.add(("near", "across", f"bees/{bees[7].name}", "bees/big_b7.jpg"))
    _reencode(val_ants[3], root / "train" / "ants" / "from_val.jpg", 0.6, 60)
    expected.add(("near", "across", "ants/from_val.jpg", f"ants/{val_ants[3].name}"))
    return root, expected


@needs_photos
def test_every_planted_pair_and_no_other_is_found(planted) -> None:
    root, expected = planted
    result = check_data(root, root / "val", resolution=64)
    found = {(p.kind, p.scope, p.a.path, p.b.path) for p in result.pairs}
    assert found == expected
    assert result.summary() | {"threshold": 0} == {
        "exact_train": 1,
        "near_train": 1,
        "exact_across": 1,
        "near_across": 2,
        "unreadable": 0,
        "small": 0,
        "threshold": 0,
    }
    assert result.counts("train") == {"ants": 123 + 3, "bees": 121}


@needs_photos
def test_the_command_prints_a_table_writes_the_pairs_and_exits_0(planted, tmp_path) -> None:
    root, expected = planted
    out = tmp_path / "pairs.csv"
    result = CliRunner().invoke(
        app, ["check-data", "--data", str(root), "--test-dir", str(root / "val"), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "near-duplicates" in result.output and "across" in result.output
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert {(r["kind"], r["scope"], r["a"], r["b"]) for r in rows} == expected


def test_a_folder_without_train_is_one_line(tmp_path) -> None:
    result = CliRunner().invoke(app, ["check-data", "--data", str(tmp_path)])
    assert result.exit_code != 0 and "no train/ folder" in result.output
    assert "Traceback" not in result.output


@needs_photos
def test_a_new_study_records_the_check_and_dedupe_leaves_the_copies_out(planted, tmp_path):
    import automl
    from automl.study.record import StudyRecord

    root, _ = planted
    common = {
        "data": root,
        "test_dir": root / "val",
        "trials": 1,
        "epochs": 1,
        "resolution": 32,
        "studies_dir": tmp_path,
        "portfolio": False,
        "recheck": 0,
    }
    plain = StudyRecord.from_study(automl.search(study="plain", **common))
    assert plain.data_check["near_across"] == 2 and plain.data_check["exact_across"] == 1
    assert not plain.dedupe and plain.excluded == []
    deduped = StudyRecord.from_study(automl.search(study="dd", dedupe=True, **common))
    assert deduped.dedupe and deduped.data_check["excluded"] == 3
    assert len(deduped.excluded) == 3 and not set(deduped.excluded) & set(deduped.val_indices)
    # the training pool's rows for the three planted train/ photos that have held-out copies
    from automl.data import open_source

    names = open_source(root, root / "val").train_pool(32, tmp_path / "cache").names
    left_out = {names[i] for i in deduped.excluded}
    assert left_out == {"bees/" + sorted((HYMENOPTERA / "train/bees").iterdir())[1].name,
                        "bees/" + sorted((HYMENOPTERA / "train/bees").iterdir())[7].name,
                        "ants/from_val.jpg"}  # fmt: skip
    # a rerun without the flag keeps it; with it on a study made without, one line
    assert StudyRecord.from_study(automl.search(study="dd", **common)).dedupe
    result = CliRunner().invoke(
        app,
        ["search", "--study", "plain", "--data", str(root), "--test-dir", str(root / "val"),
         "--studies-dir", str(tmp_path), "--dedupe", "--trials", "1"],
    )  # fmt: skip
    assert result.exit_code != 0 and "was made with --dedupe=False, not True" in result.output
    report = automl.report("plain", studies_dir=tmp_path, upload=False).read_text()
    assert "WARNING: the held-out folder shares photos with train/" in report


def test_dedupe_on_the_digits_is_one_line(tmp_path) -> None:
    result = CliRunner().invoke(app, ["search", "--dedupe", "--studies-dir", str(tmp_path)])
    assert result.exit_code != 0 and "--dedupe applies to an image folder" in result.output
    assert not list(tmp_path.glob("*.db"))


def _corrupt_class_folder(root: Path) -> Path:
    """train/ and test/ with cat and dog; every train/dog file is a corrupt JPEG."""
    for split, n in (("train", 3), ("test", 1)):
        for k, name in enumerate(("cat", "dog")):
            (root / split / name).mkdir(parents=True)
            for i in range(n):
                Image.new("RGB", (24, 20), (40 * i, 90 * k, 60)).save(
                    root / split / name / f"{i}.jpg"
                )
    for i in range(4):
        (root / "train" / "dog" / f"{i}.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg" * i)
    return root


def test_a_class_without_readable_images_is_refused_in_one_line_before_decoding(
    tmp_path, monkeypatch
) -> None:
    from automl.data import decode

    decoded = []
    real = decode.decode_file
    monkeypatch.setattr(decode, "decode_file", lambda *a: decoded.append(a) or real(*a))
    root = _corrupt_class_folder(tmp_path / "photos")
    studies = tmp_path / "studies"
    result = CliRunner().invoke(
        app,
        ["search", "--data", str(root), "--studies-dir", str(studies), "--trials", "1",
         "--epochs", "1", "--resolution", "32"],
    )  # fmt: skip
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"error: class 'dog' has 0 usable images in {root / 'train'} ")
    assert "(4 unreadable: dog/0.jpg, dog/1.jpg, dog/2.jpg, ...)" in lines[0]
    assert lines[0].endswith(f"need at least 2: add readable images to {root / 'train/dog'}")
    assert decoded == []  # the check read the files; nothing was decoded for the pool
    assert not (studies / "cache").exists()


def test_a_class_with_one_readable_image_is_refused_by_the_library_too(tmp_path) -> None:
    import automl

    root = _corrupt_class_folder(tmp_path / "photos")
    Image.new("RGB", (24, 20), (1, 2, 3)).save(root / "train" / "dog" / "ok.jpg")
    with pytest.raises(automl.DataError) as refused:
        automl.search(data=root, studies_dir=tmp_path, trials=1, epochs=1, resolution=32)
    assert str(refused.value) == (
        f"class 'dog' has 1 usable image in {root / 'train'} (4 unreadable: dog/0.jpg, "
        f"dog/1.jpg, dog/2.jpg, ...); need at least 2: add readable images to "
        f"{root / 'train/dog'}"
    )
    assert not (tmp_path / "cache").exists()
