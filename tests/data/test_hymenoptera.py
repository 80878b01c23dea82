"""The real ants-vs-bees photos, when the shared copy is present."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from automl.data import open_source

from .conftest import IGNORE_TV_DEPRECATION

ROOT = Path("/work/shared/data/hymenoptera")

pytestmark = [
    IGNORE_TV_DEPRECATION,
    pytest.mark.skipif(not (ROOT / "train").is_dir(), reason=f"{ROOT} is not available"),
]


def test_hymenoptera_train_and_val(tmp_path: Path) -> None:
    source = open_source(ROOT, test_dir=ROOT / "val")
    assert source.classes == ("ants", "bees")
    assert source.test_dir == str((ROOT / "val").resolve())
    pool = source.train_pool(32, tmp_path)
    assert tuple(pool.images.shape) == (244, 3, 32, 32) and pool.images.dtype == torch.uint8
    assert pool.labels.bincount().tolist() == [123, 121]
    held = source.held_out(32, tmp_path)
    assert tuple(held.images.shape) == (153, 3, 32, 32)
    assert held.labels.bincount().tolist() == [70, 83]
