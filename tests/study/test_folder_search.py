"""search + finalize on an ImageFolder: decode once across trials and runs, held-out read once."""

import pytest

import automl
from automl.data import clear_memo, decode

from .photos import COLOURS, make_folder


@pytest.fixture
def folder(tmp_path):
    return make_folder(tmp_path / "photos")


@pytest.fixture
def decodes(monkeypatch):
    calls = []
    original = decode.decode_file

    def counting(path, at_least=None):
        calls.append(path)
        return original(path, at_least)

    monkeypatch.setattr(decode, "decode_file", counting)
    return calls


def test_trials_and_reruns_decode_nothing_new(folder, tmp_path, decodes):
    kwargs = {
        "data": folder,
        "study": "f",
        "studies_dir": tmp_path / "s",
        "resolution": 32,
        "epochs": 1,
        "pruner": "none",
        "recheck": 0,
    }
    automl.search(trials=1, **kwargs)
    assert len(decodes) == 30  # the training pool, once; test/ untouched
    assert all("/train/" in str(p) for p in decodes)
    automl.search(trials=3, **kwargs)  # two more trials in this process
    clear_memo()  # and a rerun as a new process would see it
    automl.search(trials=4, **kwargs)
    assert len(decodes) == 30
    result = automl.finalize("f", studies_dir=tmp_path / "s")
    assert len(decodes) == 42 and result.metrics["n"] == 12  # held-out decoded at finalize only
    assert set(result.metrics["per_class"]) == set(COLOURS)
