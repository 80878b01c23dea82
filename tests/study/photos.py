"""A tiny ImageFolder of plain colours: train/ and test/, three classes."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 210)}


def make_folder(root: Path, splits=(("train", 10), ("test", 4)), shift: int = 0) -> Path:
    """`root/<split>/<colour>/<i>.jpg`, shades of each colour; `shift` makes other images."""
    for split, n in splits:
        for name, rgb in COLOURS.items():
            (root / split / name).mkdir(parents=True)
            for i in range(n):
                shade = tuple(max(0, c - 12 * i - shift) for c in rgb)
                Image.new("RGB", (20 + i, 16), shade).save(root / split / name / f"{i}.jpg")
    return root
