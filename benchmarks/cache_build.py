"""Image cache build: one decode per resolution (before) vs decode once, resize the rest.

A folder of N JPEGs of 768x512 (hymenoptera's photos, resized once and hard-linked over and
over under new names, so every file is read and decoded) is turned into uint8 tensors at
32, 64, 96 and 128 px:

- before: each resolution decodes every file in full (torchvision) and resizes it;
- after:  every file is decoded once at the largest resolution, JPEGs at a reduced DCT scale
          that stays at least that large (PIL's draft mode), and the smaller resolutions are
          antialiased resizes of those uint8 tensors (what a study does since issue 11).

Printed: seconds and images/s per resolution and in all, and the speed-up. Both sides run in
the same process on the same threads; the disk cache's writes are left out of both.

Usage: python benchmarks/cache_build.py [--images N] [--sizes 32 64 96 128]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine_line  # noqa: E402

from automl.data.decode import shrink  # noqa: E402
from automl.data.files import decode_folder, list_files  # noqa: E402

HYMENOPTERA = REPO.parent / "shared" / "data" / "hymenoptera"


def make_folder(root: Path, n: int) -> list[list[Path]]:
    """train/<class>/ with n 768x512 JPEGs in all, hard links of the resized originals."""
    originals = sorted(p for p in (HYMENOPTERA / "train").rglob("*.jpg"))
    resized = root / "originals"
    resized.mkdir()
    sources = []
    for i, path in enumerate(originals):
        out = resized / f"{i}.jpg"
        with Image.open(path) as im:
            im.convert("RGB").resize((768, 512), Image.Resampling.BICUBIC).save(out, quality=90)
        sources.append((path.parent.name, out))
    files: dict[str, list[Path]] = {}
    for k in range(n):
        label, src = sources[k % len(sources)]
        dst = root / "train" / label / f"{k:05d}.jpg"
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.link(src, dst)
        files.setdefault(label, []).append(dst)
    return [list_files(root / "train" / c) for c in sorted(files)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=6000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 96, 128])
    args = parser.parse_args()
    print(machine_line())
    sizes = sorted(args.sizes)
    with tempfile.TemporaryDirectory(prefix="automl-bench-cache-") as tmp:
        files = make_folder(Path(tmp), args.images)
        base, classes = Path(tmp) / "train", [g[0].parent.name for g in files]
        n = sum(len(g) for g in files)
        print(f"{n} JPEGs of 768x512, resolutions {sizes}, {os.cpu_count()} decode threads")
        before = {}
        for r in sizes:
            start = time.perf_counter()
            decode_folder(base, files, classes, r, 1, reduced=False)
            before[r] = time.perf_counter() - start
        after = {}
        start = time.perf_counter()
        big, _, _ = decode_folder(base, files, classes, sizes[-1], 1, reduced=True)
        after[sizes[-1]] = time.perf_counter() - start
        for r in sizes[:-1]:
            start = time.perf_counter()
            shrink(big, r)
            after[r] = time.perf_counter() - start
    print(f"{'res':>5} {'before s':>9} {'img/s':>7} {'after s':>8} {'img/s':>7}  how (after)")
    for r in sizes:
        how = "decoded (reduced JPEG)" if r == sizes[-1] else f"resized from {sizes[-1]} px"
        print(
            f"{r:>5} {before[r]:>9.2f} {n / before[r]:>7.0f} {after[r]:>8.2f} "
            f"{n / after[r]:>7.0f}  {how}"
        )
    tb, ta = sum(before.values()), sum(after.values())
    print(
        f"{'all':>5} {tb:>9.2f} {len(sizes) * n / tb:>7.0f} {ta:>8.2f} {len(sizes) * n / ta:>7.0f}"
    )
    print(f"speed-up, all resolutions together: {tb / ta:.1f}x (goal >= 3x)")


if __name__ == "__main__":
    main()
