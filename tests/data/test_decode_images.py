from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from automl.data import decode_file, resize_square

from .conftest import (
    FORMATS,
    IGNORE_TV_DEPRECATION,
    SIZE,
    random_image,
    write_broken,
    write_image,
)

pytestmark = IGNORE_TV_DEPRECATION


@pytest.mark.parametrize("rel", FORMATS)
def test_every_format_decodes_to_uint8_rgb(tmp_path: Path, rel: str) -> None:
    path = tmp_path / rel
    write_image(path, seed=1)
    img = decode_file(path)
    assert img is not None
    assert img.dtype == torch.uint8
    assert tuple(img.shape) == (3, *SIZE)


def test_pixels_match_pil(tmp_path: Path) -> None:
    path = tmp_path / "cmyk.jpg"
    write_image(path, seed=3)
    expected = np.asarray(Image.open(path).convert("RGB"))
    got = decode_file(path)
    assert got is not None
    assert np.abs(got.permute(1, 2, 0).numpy().astype(int) - expected.astype(int)).max() <= 2


def test_pil_fallback_for_formats_torchvision_lacks(tmp_path: Path) -> None:
    path = tmp_path / "x.bmp"
    random_image(2).save(path)
    img = decode_file(path)
    assert img is not None and tuple(img.shape) == (3, *SIZE)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    random_image(4).save(path, exif=exif)
    img = decode_file(path)
    assert img is not None and tuple(img.shape) == (3, SIZE[1], SIZE[0])


@pytest.mark.parametrize("name", ["corrupt.jpg", "notes.txt", ".DS_Store", "missing.png"])
def test_unreadable_files_give_none(tmp_path: Path, name: str) -> None:
    write_broken(tmp_path)
    assert decode_file(tmp_path / name) is None


def test_resize_square_squashes_whole_image() -> None:
    img = torch.randint(0, 256, (3, 20, 40), dtype=torch.uint8)
    out = resize_square(img, 16)
    assert out.dtype == torch.uint8 and tuple(out.shape) == (3, 16, 16)
    # left half of the input ends up in the left half of the output (no crop)
    img = torch.zeros(3, 20, 40, dtype=torch.uint8)
    img[:, :, 20:] = 255
    out = resize_square(img, 16)
    assert out[:, :, :7].max() == 0 and out[:, :, 9:].min() == 255
    assert tuple(resize_square(torch.zeros(5, 1, 8, 8, dtype=torch.uint8), 12).shape) == (
        5,
        1,
        12,
        12,
    )


@pytest.mark.parametrize("shape", [(3, 37, 53), (1, 1, 8, 8), (5, 3, 96, 64), (3, 20, 20)])
@pytest.mark.parametrize("resolution", [8, 32, 50])
@pytest.mark.parametrize("native", [True, False])
def test_resize_square_gives_torchvisions_pixels(monkeypatch, shape, resolution, native) -> None:
    """resize_square computes what torchvision's resize does, pixel for pixel, without it:
    uint8 natively where torch's kernel takes it, through float32 elsewhere; a single
    channels-last image stays channels-last."""
    from torchvision.transforms.v2 import functional as TF
    from torchvision.transforms.v2.functional import _geometry

    from automl.data import decode

    monkeypatch.setattr(decode, "_native_uint8_bilinear", lambda device: native)
    monkeypatch.setattr(_geometry, "_do_native_uint8_resize_on_cpu", lambda mode: native)
    g = torch.Generator().manual_seed(sum(shape) + resolution)
    img = torch.randint(0, 256, shape, dtype=torch.uint8, generator=g)
    inputs = [img, img.float() * 0.5]
    if img.ndim == 3:  # one image, laid out channels-last
        inputs.append(img.unsqueeze(0).contiguous(memory_format=torch.channels_last)[0])
    for x in inputs:
        ours, theirs = resize_square(x, resolution), TF.resize(x, [resolution] * 2, antialias=True)
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
        assert torch.equal(ours, theirs)
        assert ours.stride() == theirs.stride()
