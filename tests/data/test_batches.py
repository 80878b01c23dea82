from __future__ import annotations

import pytest
import torch

from automl.data import Batches, channel_stats
from automl.errors import ConfigError


def _data(n: int, channels: int = 3, size: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(n)
    images = torch.randint(0, 256, (n, channels, size, size), dtype=torch.uint8, generator=gen)
    images[:, 0] //= 2  # channels with different statistics
    return images, torch.arange(n, dtype=torch.int64)


def test_channel_stats_match_direct_computation(monkeypatch: pytest.MonkeyPatch) -> None:
    from automl.data import batches

    monkeypatch.setattr(batches, "_CHUNK_ELEMENTS", 500)  # force several chunks
    images, _ = _data(37)
    mean, std = channel_stats(images)
    x = images.double() / 255
    assert torch.allclose(torch.tensor(mean), x.mean(dim=(0, 2, 3)).float(), atol=1e-6)
    assert torch.allclose(torch.tensor(std), x.std(dim=(0, 2, 3), correction=0).float(), atol=1e-5)
    _, flat_std = channel_stats(torch.full((4, 1, 3, 3), 7, dtype=torch.uint8))
    assert flat_std == (1e-3,)


@pytest.mark.parametrize(
    ("n", "batch_size", "shuffle", "sizes"),
    [
        (10, 3, False, [3, 3, 3, 1]),  # evaluation keeps every sample
        (10, 3, True, [3, 3, 3]),  # training drops a final batch of one
        (11, 3, True, [3, 3, 3, 2]),  # ...and nothing else
        (9, 3, True, [3, 3, 3]),
        (3, 1, True, [1, 1, 1]),
    ],
)
def test_batch_counts(n: int, batch_size: int, shuffle: bool, sizes: list[int]) -> None:
    images, labels = _data(n)
    batches = Batches(
        images,
        labels,
        batch_size,
        mean=(0.5,) * 3,
        std=(0.25,) * 3,
        shuffle=shuffle,
        generator=torch.Generator().manual_seed(0),
    )
    got = [len(y) for _, y in batches]
    assert got == sizes and len(batches) == len(sizes)
    seen = torch.cat([y for _, y in batches])
    assert len(set(seen.tolist())) == sum(sizes)


def test_shuffle_gives_new_order_each_epoch() -> None:
    images, labels = _data(40)
    batches = Batches(
        images,
        labels,
        8,
        mean=(0.5,) * 3,
        std=(0.25,) * 3,
        shuffle=True,
        generator=torch.Generator().manual_seed(0),
    )
    first, second = (torch.cat([y for _, y in batches]) for _ in range(2))
    assert sorted(first.tolist()) == sorted(second.tolist()) == list(range(40))
    assert not torch.equal(first, second)


@pytest.mark.parametrize("augment", ["none", "strong"])
def test_normalised_channels_last_batches(augment: str) -> None:
    images, labels = _data(64)
    mean, std = channel_stats(images)
    batches = Batches(
        images,
        labels,
        16,
        mean=mean,
        std=std,
        augment=augment,
        generator=torch.Generator().manual_seed(0),
    )
    xs = []
    for x, y in batches:
        assert x.dtype == torch.float32 and y.dtype == torch.int64
        assert x.is_contiguous(memory_format=torch.channels_last)
        xs.append(x)
    x = torch.cat(xs)
    if augment == "none":
        assert torch.allclose(x.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-4)
        assert torch.allclose(x.std(dim=(0, 2, 3), correction=0), torch.ones(3), atol=1e-3)
        assert torch.equal(torch.cat([y for _, y in batches]), labels)


def test_channels_last_can_be_disabled_and_bad_augment_fails() -> None:
    images, labels = _data(4)
    x, _ = next(iter(Batches(images, labels, 4, mean=(0,) * 3, std=(1,) * 3, channels_last=False)))
    assert x.is_contiguous()
    with pytest.raises(ConfigError, match="none, basic, strong"):
        Batches(images, labels, 4, mean=(0,) * 3, std=(1,) * 3, augment="heavy")


def test_a_pool_lives_on_the_gpu_only_when_it_fits() -> None:
    from automl.data.batches import RESIDENT_SHARE, pool_fits

    assert pool_fits(10**12, "cpu")  # host memory holds it already
    free = 4 * 2**30
    assert pool_fits(int(RESIDENT_SHARE * free), "cuda", free=free)
    assert not pool_fits(int(RESIDENT_SHARE * free) + 1, "cuda", free=free)


def test_a_pool_already_on_the_device_is_not_copied() -> None:
    from automl.data import to_device_if_fits

    images, labels = _data(8)
    moved = to_device_if_fits(images, labels, "cpu")
    assert moved[0] is images and moved[1] is labels


@pytest.mark.parametrize("augment", ["none", "strong"])
def test_staged_batches_equal_resident_ones(monkeypatch: pytest.MonkeyPatch, augment: str) -> None:
    """The fallback for a pool too big for the GPU (one reused staging buffer) yields the
    very batches the resident path does; run here by treating the CPU as another device."""
    from automl.data import batches as module

    images, labels = _data(23)

    def epochs() -> list[tuple[torch.Tensor, torch.Tensor]]:
        b = Batches(
            images,
            labels,
            5,
            mean=(0.5,) * 3,
            std=(0.25,) * 3,
            shuffle=True,
            augment=augment,
            generator=torch.Generator().manual_seed(3),
        )
        return [batch for _ in range(2) for batch in b]

    resident = epochs()
    monkeypatch.setattr(module, "_same_device", lambda a, b: False)
    staged = epochs()
    assert len(staged) == len(resident) == 10
    for (xs, ys), (xr, yr) in zip(staged, resident, strict=True):
        assert torch.equal(xs, xr) and torch.equal(ys, yr)


def test_the_staging_buffer_is_never_handed_out() -> None:
    from automl.data.batches import _Staging

    images, _ = _data(12)
    staging = _Staging(images, 4, torch.device("cpu"))
    first = staging.send(images, slice(0, 4))
    second = staging.send(images, torch.tensor([11, 2, 7]))
    assert torch.equal(first, images[:4]) and torch.equal(second, images[[11, 2, 7]])
    assert first.data_ptr() != staging.buffer.data_ptr() != second.data_ptr()
