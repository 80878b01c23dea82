"""`make gpu-check`: what only a machine with a GPU can check, in one command.

1. The CUDA tests (tests/gpu/test_cuda.py, marker `cuda`): a search and its finalize in the
   precision `auto` picks and in fp16; the training pool resident on the device and forced
   through the staging buffer, same results; a model too big for the card failing its trial
   and the next trial running; `--workers 2` on one GPU.
2. The GPU rows of benchmarks/epoch_time.py (`--gpu`): automl's epoch on the device vs the
   bare step's (the limit; the goal is at most 1.15x), and the pool resident vs staged.

Then one summary line; the exit status is non-zero when a test failed or the benchmark did
not finish. Without a CUDA device it prints "no CUDA device: nothing to check" and exits 0.
The benchmark runs on --data, else the hymenoptera photos beside the clone when they are
there, else on synthetic photos written to a temporary folder (the timings do not depend on
what the photos show).

Usage: python benchmarks/gpu_check.py [--data DIR]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PHOTOS = REPO.parent / "shared/data/hymenoptera"
SIZES = ("64", "128")
EPOCHS = "4"


def pytest_command() -> list[str]:
    return [
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "cuda",
        "tests/gpu/test_cuda.py",
    ]  # fmt: skip


def synthetic_photos(root: Path, per_class: int = 120) -> Path:
    """train/ and val/ of two classes of noisy 320x240 JPEGs (the size of a small photo)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in (("train", per_class), ("val", per_class // 4)):
        for k, name in enumerate(("a", "b")):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
                pixels[..., k] //= 2  # the classes differ in colour
                Image.fromarray(pixels).save(folder / f"{i}.jpg", quality=85)
    return root


def tally(pytest_output: str) -> str:
    """pytest's last line, "5 passed, 1 skipped in 80.12s" -> "5 passed, 1 skipped"."""
    lines = [line for line in pytest_output.strip().splitlines() if line.strip()]
    last = lines[-1].strip("= ") if lines else "no output"
    return re.sub(r" in [\d.]+s.*$", "", last)


def summary(name: str, tests: str, rows: list[dict], seconds: float) -> str:
    if not rows:
        return f"gpu-check on {name}: tests {tests}; the benchmark did not finish; {seconds:.0f} s"
    epochs = ", ".join(
        f"{r['resolution']} px {r['automl_s_per_epoch']:.3f} s vs bare "
        f"{r['bare_s_per_epoch'][r['fastest_bare']]:.3f} s = {r['vs_limit']:.2f}x"
        for r in rows
    )
    return (
        f"gpu-check on {name}: tests {tests}; automl's epoch in {rows[0]['automl_cell']}: "
        f"{epochs} (goal at most 1.15x); {seconds:.0f} s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="ImageFolder root with train/ and val/")
    args = parser.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print("no CUDA device: nothing to check")
        return 0
    start = time.perf_counter()
    tests = subprocess.run(pytest_command(), cwd=REPO, capture_output=True, text=True)
    print(tests.stdout + tests.stderr, end="")
    with tempfile.TemporaryDirectory(prefix="automl-gpu-check-") as tmp:
        data = args.data or (PHOTOS if (PHOTOS / "train").is_dir() else None)
        data = data or synthetic_photos(Path(tmp) / "photos")
        out = Path(tmp) / "epoch_time.json"
        bench = subprocess.run(
            [sys.executable, "benchmarks/epoch_time.py", "--gpu", "--data", str(data),
             "--epochs", EPOCHS, "--sizes", *SIZES, "--out", str(out)],
            cwd=REPO,
        )  # fmt: skip
        rows = json.loads(out.read_text())["cuda"] if out.is_file() else []
    seconds = time.perf_counter() - start
    print(summary(torch.cuda.get_device_name(), tally(tests.stdout), rows, seconds))
    return 0 if tests.returncode == 0 and bench.returncode == 0 and rows else 1


if __name__ == "__main__":
    sys.exit(main())
