"""Small synthetic ImageFolders written with PIL, one file per format worth supporting."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from automl.data import clear_memo

# Every readable format in the synthetic "cat" class (relative to train/cat).
FORMATS = (
    "rgb.jpg",
    "photo.jpeg",
    "gray.png",
    "rgba.png",
    "palette.png",
    "anim.gif",
    "cmyk.jpg",
    "nested/deep.png",
)
BROKEN = ("corrupt.jpg", "notes.txt")  # unreadable: skipped with one warning
SIZE = (18, 26)  # (H, W) of every synthetic image


def random_image(seed: int, size: tuple[int, int] = SIZE) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def write_image(path: Path, seed: int) -> None:
    """Write a random image at `path`, picking the mode from the file name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img = random_image(seed)
    name = path.name
    if name.startswith("gray"):
        img = img.convert("L")
    elif name.startswith("rgba"):
        img = img.convert("RGBA")
    elif name.startswith("palette"):
        img = img.convert("P")
    elif name.startswith("cmyk"):
        img = img.convert("CMYK")
    if name.endswith(".gif"):
        frames = [img.convert("P"), random_image(seed + 1000).convert("P")]
        frames[0].save(path, save_all=True, append_images=frames[1:])
    else:
        img.save(path)


def write_broken(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    (folder / "notes.txt").write_text("not an image\n")
    (folder / ".DS_Store").write_bytes(b"\x00\x01junk")


MakeFolder = Callable[..., Path]


@pytest.fixture
def make_folder(tmp_path: Path) -> MakeFolder:
    """Factory: root with train/{cat,dog} and test/{cat,dog}; cat holds every format."""

    def make(name: str = "root", dogs: int = 3, test_per_class: int = 2) -> Path:
        root = tmp_path / name
        seed = 0
        for rel in FORMATS:
            seed += 1
            write_image(root / "train" / "cat" / rel, seed)
        write_broken(root / "train" / "cat")
        for k in range(dogs):
            seed += 1
            write_image(root / "train" / "dog" / f"dog{k}.jpg", seed)
        for cls in ("cat", "dog"):
            for k in range(test_per_class):
                seed += 1
                write_image(root / "test" / cls / f"{cls}{k}.jpg", seed)
        return root

    return make


@pytest.fixture(autouse=True)
def fresh_memo() -> Iterator[None]:
    clear_memo()
    yield
    clear_memo()


# torchvision 0.29 deprecates its image decoders in favour of TorchCodec (not installed here).
IGNORE_TV_DEPRECATION = pytest.mark.filterwarnings(
    "ignore:The image decoding and encoding capabilities of TorchVision:DeprecationWarning"
)
