"""predict: top-k labels from a finalized model.pt; clear errors for foreign files."""

from pathlib import Path

import pytest
import torch

import automl
from automl import DataError, ModelFileError


def test_predict_a_held_out_digit(finalized, digit_png):
    _, result = finalized
    (pred,) = automl.predict(result.model_path, [digit_png], top_k=3)
    assert len(pred.top) == 3
    probs = [p for _, p in pred.top]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6
    assert pred.top[0][0] == digit_png.stem.split("_")[1]  # the scan's true digit


def test_load_model_rebuilds_from_the_file_alone(finalized):
    _, result = finalized
    loaded = automl.load_model(result.model_path, "cpu")
    assert loaded.classes == [str(i) for i in range(10)] and loaded.in_chans == 1


def test_missing_and_foreign_model_files(tmp_path, digit_png):
    with pytest.raises(ModelFileError, match="does not exist; run `automl finalize` first"):
        automl.predict(tmp_path / "none.pt", [digit_png])
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelFileError, match="is not an automl model file"):
        automl.predict(junk, [digit_png])
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(ModelFileError, match="expected format automl-model/1"):
        automl.predict(foreign, [digit_png])


def test_bad_images(finalized, tmp_path):
    _, result = finalized
    with pytest.raises(DataError, match="does not exist"):
        automl.predict(result.model_path, [tmp_path / "missing.jpg"])
    text = tmp_path / "note.jpg"
    text.write_text("hello")
    with pytest.raises(DataError, match="note.jpg is not an image automl can read"):
        automl.predict(result.model_path, [text])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="folder .*empty holds no image files"):
        automl.predict(result.model_path, [tmp_path / "empty"])
    with pytest.raises(ModelFileError, match="is a folder without model.pt"):
        automl.predict(tmp_path, [text])


def test_predict_folders_and_csv(finalized, tmp_path, digit_png):
    """Folders are walked (image files only, sorted); an unreadable file is one line and the
    rest are still predicted; the final/ folder stands for its model.pt; --csv has every row."""
    import csv
    import shutil

    from typer.testing import CliRunner

    from automl.cli import app

    _, result = finalized
    photos = tmp_path / "photos"
    (photos / "sub").mkdir(parents=True)
    shutil.copy(digit_png, photos / "b.png")
    shutil.copy(digit_png, photos / "sub" / "a.png")
    (photos / "notes.txt").write_text("not an image, and not an image suffix: left out")
    (photos / "broken.png").write_bytes(b"not a png")
    preds = automl.predict(result.model_path.parent, [photos], skip_unreadable=True)
    assert [Path(p.image).relative_to(photos).as_posix() for p in preds] == [
        "b.png",
        "broken.png",
        "sub/a.png",
    ]
    assert preds[1].top == [] and "is not an image" in preds[1].error
    assert preds[0].top == preds[2].top and len(preds[0].top) == 3
    out = tmp_path / "out.csv"
    r = CliRunner().invoke(
        app, ["predict", "--model", str(result.model_path.parent), "--csv", str(out), str(photos)]
    )
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert r.output.count("skipped: image") == 1 and "broken.png is not an image" in r.output
    assert r.output.count(".png: ") == 2 and "3 rows written" in r.output
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["image", "label_1", "probability_1", "label_2", "probability_2",
                       "label_3", "probability_3", "error"]  # fmt: skip
    assert len(rows) == 4 and "broken.png is not an image automl can read" in rows[2][-1]
    r = CliRunner().invoke(
        app, ["predict", "--model", str(result.model_path), str(tmp_path / "nope")]
    )
    assert r.exit_code == 2 and "image" in r.output and "does not exist" in r.output
