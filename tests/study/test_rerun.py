"""Reruns need nothing repeated; the held-out folder is guarded; an edited space is caught.

Each refusal is one line naming the option, the study's value and the given one in words."""

from __future__ import annotations

import logging
import os
import re
import shutil

import pytest
from typer.testing import CliRunner

import automl
from automl import DataError, SpaceError, StudyError
from automl.cli import app
from automl.study.record import StudyRecord

from .photos import make_folder

TINY = {"resolution": 32, "epochs": 1, "pruner": "none", "portfolio": False, "recheck": 0}
HEX = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def photos(tmp_path):
    root = make_folder(tmp_path / "photos", (("train", 6), ("test", 2), ("val", 2)))
    return root


def _search(tmp_path, **kwargs):
    return automl.search(studies_dir=tmp_path / "s", **{**TINY, **kwargs})


def test_a_held_out_folder_that_is_the_training_data_is_refused(photos, tmp_path):
    with pytest.raises(DataError, match="held-out folder .*/train is the training data"):
        _search(tmp_path, study="x", data=photos, test_dir=photos / "train", trials=1)
    link = tmp_path / "link"
    link.symlink_to(photos / "train")  # the same folder under another name
    with pytest.raises(DataError, match="is the training data"):
        _search(tmp_path, study="x", data=photos, test_dir=link, trials=1)
    shared = tmp_path / "shared"
    for c in ("red", "green", "blue"):  # hard links: the training files themselves
        (shared / c).mkdir(parents=True)
        os.link(photos / "train" / c / "0.jpg", shared / c / "0.jpg")
    with pytest.raises(DataError, match=r"shares 3 files with .*/train \(e\.g\. "):
        _search(tmp_path, study="x", data=photos, test_dir=shared, trials=1)
    assert not (tmp_path / "s" / "x.db").exists()  # refused before anything was made


def test_a_rerun_takes_space_data_and_held_out_folder_from_the_study(photos, tmp_path):
    _search(tmp_path, study="f", data=photos, test_dir=photos / "val", trials=1)
    again = automl.search(study="f", trials=2, studies_dir=tmp_path / "s")  # nothing repeated
    record = StudyRecord.from_study(again)
    assert len(again.trials) == 2 and record.data == str(photos.resolve())
    assert record.test_dir == str((photos / "val").resolve()) and record.test_files == 6
    result = automl.finalize("f", studies_dir=tmp_path / "s")  # the recorded held-out folder
    assert result.metrics["n"] == 6


def test_another_held_out_folder_is_refused_naming_both(photos, tmp_path):
    _search(tmp_path, study="f", data=photos, test_dir=photos / "val", trials=1)
    moved = tmp_path / "moved_val"
    shutil.copytree(photos / "val", moved)  # the same images elsewhere: accepted
    assert len(_search(tmp_path, study="f", test_dir=moved, trials=2).trials) == 2
    other = make_folder(tmp_path / "other", (("val", 3),), shift=5) / "val"
    with pytest.raises(StudyError) as caught:
        _search(tmp_path, study="f", test_dir=other, trials=3)
    message = str(caught.value)
    val = (photos / "val").resolve()
    assert f"holds out {val} (6 files), not {other.resolve()} (9 files) (test_dir)" in message
    assert "leave test_dir out to keep the study's" in message and not HEX.search(message)
    with pytest.raises(StudyError, match="point data / test_dir at the study's own images"):
        automl.finalize("f", studies_dir=tmp_path / "s", test_dir=other)
    r = CliRunner().invoke(
        app, ["search", "--study", "f", "--studies-dir", str(tmp_path / "s"), "--trials", "3",
              "--test-dir", str(other)],
    )  # fmt: skip
    assert r.exit_code == 2 and "--test-dir" in r.output and "leave --test-dir out" in r.output
    assert "Traceback" not in r.output and len(r.output.strip().splitlines()) == 1


def test_other_data_is_refused_in_words_not_hashes(photos, tmp_path):
    _search(tmp_path, study="f", data=photos, trials=1)
    other = make_folder(tmp_path / "other", shift=5)
    with pytest.raises(StudyError) as caught:
        _search(tmp_path, study="f", data=other, trials=2)
    message = str(caught.value)
    assert (
        f"was made on {photos.resolve()} (18 training files, 3 classes), "
        f"not on {other.resolve()} (30 training files, 3 classes) (data)"
    ) in message
    assert not HEX.search(message)
    with pytest.raises(StudyError, match="was made with space=scratch_cnn, not resnet"):
        _search(tmp_path, study="f", space="resnet", trials=2)


SPACE = """
import automl
from automl.models.scratch_cnn import ScratchCNNConfig


def space(trial):
    act = trial.suggest_categorical("activation", ["relu", "gelu"])
    lr = trial.suggest_float("lr", 1e-3, 1e-2, log=True)
    return automl.TrialConfig(
        model=ScratchCNNConfig(base_filters=8, dense_units=16, activation=act),
        optim=automl.OptimConfig(lr=lr),
        data=automl.DataConfig(resolution=32, batch_size=64),
    )
"""


def test_an_edited_space_file_is_caught_before_any_trial(tmp_path, caplog):
    file = tmp_path / "my_space.py"
    file.write_text(SPACE)
    settings = {"epochs": 1, "pruner": "none", "portfolio": False, "studies_dir": tmp_path / "s"}
    settings["recheck"] = 0
    automl.search(str(file), trials=1, **settings)
    widened = SPACE.replace("1e-3, 1e-2", "1e-4, 1e-2")
    file.write_text(widened)  # a range: goes on, one warning
    with caplog.at_level(logging.WARNING, logger="automl"):
        study = automl.search(study="my_space", trials=2, studies_dir=tmp_path / "s")
    assert len(study.trials) == 2
    assert [r for r in caplog.records if "changed since study my_space" in r.getMessage()]
    file.write_text(SPACE.replace('["relu", "gelu"]', '["relu", "mish"]'))
    with pytest.raises(SpaceError) as caught:
        automl.search(study="my_space", trials=3, studies_dir=tmp_path / "s")
    assert "activation now chooses from [relu, mish], its trials from [relu, gelu]" in str(
        caught.value
    )
    file.write_text(widened)  # nothing was changed by the refusal
    assert len(automl.search(study="my_space", studies_dir=tmp_path / "s", trials=2).trials) == 2
