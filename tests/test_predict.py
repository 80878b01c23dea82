"""predict: top-k labels from a finalized model.pt; clear errors for foreign files."""

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
    with pytest.raises(DataError, match="cannot read .* as an image"):
        automl.predict(result.model_path, [text])
