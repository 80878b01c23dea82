"""Shared fixtures: one small real study on the built-in digits, searched and finalized once."""

from __future__ import annotations

from pathlib import Path

import pytest

import automl

HYMENOPTERA = Path(__file__).resolve().parents[2] / "shared" / "data" / "hymenoptera"
TINY = {"resolution": 32, "epochs": 2, "pruner": "none", "seed": 0}
# Params of a small scratch_cnn trial, for tests that enqueue known configs (fixture below).
_TINY_PARAMS = {
    "base_filters": 16,
    "filter_org": "same",
    "kernel_size": 3,
    "activation": "relu",
    "batch_norm": False,
    "dropout": 0.0,
    "dense_units": 64,
    "optimizer": "adamw",
    "lr": 3e-3,
    "weight_decay": 1e-4,
    "resolution": 32,
    "batch_size": 128,
    "augment": "none",
}


@pytest.fixture
def tiny_params() -> dict:
    """A copy of the params of a small, fast scratch_cnn trial."""
    return dict(_TINY_PARAMS)


@pytest.fixture
def one_thread():
    """One torch thread: on a small shared CPU, oversubscribed threads make tiny work slower."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def digits_study(tmp_path_factory) -> tuple[Path, str]:
    """(studies_dir, study name) of a 3-trial digits study that has not been finalized."""
    studies_dir = tmp_path_factory.mktemp("studies")
    automl.search("scratch_cnn", study="tiny", trials=3, studies_dir=studies_dir, **TINY)
    return studies_dir, "tiny"


@pytest.fixture(scope="session")
def finalized(tmp_path_factory) -> tuple[Path, automl.FinalResult]:
    """(studies_dir, result) of a digits study searched and finalized once."""
    studies_dir = tmp_path_factory.mktemp("final")
    automl.search("scratch_cnn", study="fin", trials=3, studies_dir=studies_dir, **TINY)
    return studies_dir, automl.finalize("fin", studies_dir=studies_dir)


@pytest.fixture
def digit_png(tmp_path) -> Path:
    """A real held-out digit scan written as an 8x8 PNG."""
    from PIL import Image
    from sklearn.datasets import load_digits

    d = load_digits()
    path = tmp_path / f"digit_{d.target[-1]}.png"
    Image.fromarray((d.images[-1] * 255 / 16).astype("uint8")).save(path)
    return path
