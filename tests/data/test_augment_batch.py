from __future__ import annotations

import pytest
import torch

from automl.data import augment_batch
from automl.errors import ConfigError


def _batch(channels: int = 3, size: int = 16, batch: int = 8) -> torch.Tensor:
    """The same non-symmetric image repeated, so any per-sample difference is augmentation."""
    gen = torch.Generator().manual_seed(0)
    img = torch.rand(channels, size, size, generator=gen)
    return img.expand(batch, -1, -1, -1).clone()


def test_none_is_identity() -> None:
    x = _batch()
    assert augment_batch(x, "none") is x


@pytest.mark.parametrize("policy", ["basic", "strong"])
@pytest.mark.parametrize("channels", [1, 3])
def test_shape_dtype_range_and_determinism(policy: str, channels: int) -> None:
    x = _batch(channels)
    out = augment_batch(x, policy, torch.Generator().manual_seed(5))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    again = augment_batch(x, policy, torch.Generator().manual_seed(5))
    assert torch.equal(out, again)
    other = augment_batch(x, policy, torch.Generator().manual_seed(6))
    assert not torch.equal(out, other)
    # per-sample parameters: no two samples of the identical batch come out the same
    flat = out.flatten(1)
    assert torch.cdist(flat, flat).add(torch.eye(len(flat))).min() > 1e-3
    assert torch.equal(x, _batch(channels))  # input left untouched


def test_strong_changes_colour_statistics_per_sample() -> None:
    out = augment_batch(_batch(), "strong", torch.Generator().manual_seed(1))
    means = out.mean(dim=(1, 2, 3))
    assert float(means.std()) > 0.01


def test_unknown_policy_lists_valid_names() -> None:
    with pytest.raises(ConfigError, match="none, basic, strong"):
        augment_batch(_batch(), "mixup")


def test_full_crop_is_identity_or_exact_horizontal_flip(monkeypatch: pytest.MonkeyPatch) -> None:
    from automl.data import augment

    monkeypatch.setattr(augment, "_RATIO", (1.0, 1.0))
    monkeypatch.setitem(augment._CROP_SCALE, "basic", (1.0, 1.0))
    x = torch.rand(64, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    out = augment_batch(x, "basic", torch.Generator().manual_seed(0))
    same = (out - x).abs().flatten(1).amax(1) < 1e-5
    flipped = (out - x.flip(-1)).abs().flatten(1).amax(1) < 1e-5
    assert bool((same | flipped).all()) and 16 < int(flipped.sum()) < 48
