"""Steady-state epoch time: automl's trainer vs a plain hand-written PyTorch loop.

Same model (5-block CNN, 32 filters per block), same data (hymenoptera photos), same seed.
The plain loop decodes and resizes every JPEG with PIL on every epoch through a DataLoader,
in fp32; automl decodes once into a uint8 cache (built before timing, reported separately)
and trains from memory with bf16 autocast + channels_last. Epoch 1 is warm-up; the reported
time is the median of epochs 2..E. Usage: python benchmarks/epoch_time.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from automl.config import DataConfig, OptimConfig, TrialConfig
from automl.data import Batches, open_source
from automl.models import create_model
from automl.models.scratch_cnn import ScratchCNNConfig
from automl.train.engine import evaluate
from automl.train.fit import fit
from automl.train.precision import resolve_precision

REPO = Path(__file__).resolve().parent.parent
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
MODEL = ScratchCNNConfig(
    base_filters=32,
    filter_org="same",
    kernel_size=3,
    activation="relu",
    batch_norm=True,
    dropout=0.0,
    dense_units=128,
)
BATCH, LR, SEED = 32, 1e-3, 0


def plain_loader(folder: Path, res: int, shuffle: bool) -> DataLoader:
    tf = transforms.Compose(
        [
            transforms.Resize((res, res)),
            transforms.ToTensor(),
            transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )
    return DataLoader(
        datasets.ImageFolder(str(folder), tf),
        batch_size=BATCH,
        shuffle=shuffle,
        num_workers=2,
        persistent_workers=False,
        generator=torch.Generator().manual_seed(SEED),
    )


def run_plain(data: Path, res: int, epochs: int) -> dict:
    """The loop users hand-write today: ImageFolder + PIL transforms every epoch, fp32, Adam."""
    torch.manual_seed(SEED)
    model = create_model(MODEL, num_classes=2, in_chans=3, resolution=res)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    criterion = nn.CrossEntropyLoss()
    train = plain_loader(data / "train", res, shuffle=True)
    seconds = []
    for _ in range(epochs):
        model.train()
        start = time.perf_counter()
        for x, y in train:
            optimizer.zero_grad()
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()
        seconds.append(time.perf_counter() - start)
    model.eval()
    correct = seen = 0
    with torch.no_grad():
        for x, y in plain_loader(data / "val", res, shuffle=False):
            correct += (model(x).argmax(1) == y).sum().item()
            seen += len(y)
    return {"epoch_seconds": seconds, "val_acc": correct / seen}


def run_automl(data: Path, res: int, epochs: int, cache_dir: Path) -> dict:
    """automl's own path: decode-once cache, then fit() with bf16 autocast + channels_last."""
    source = open_source(data, data / "val")
    start = time.perf_counter()
    pool = source.train_pool(res, cache_dir)
    cache_build = time.perf_counter() - start
    precision = resolve_precision("auto", torch.device("cpu"))
    cfg = TrialConfig(
        model=MODEL,
        optim=OptimConfig(name="adam", lr=LR, scheduler="constant"),
        data=DataConfig(resolution=res, batch_size=BATCH, augment="none"),
    )
    seconds = []
    result = fit(
        cfg,
        (pool.images, pool.labels),
        None,
        num_classes=2,
        epochs=epochs,
        precision=precision,
        seed=SEED,
        on_epoch=lambda epoch, row: seconds.append(row["seconds"]),
    )
    held = source.held_out(res, cache_dir)
    batches = Batches(held.images, held.labels, 256, mean=result.mean, std=result.std)
    ev = evaluate(result.model, nn.CrossEntropyLoss(), batches, precision)
    return {
        "epoch_seconds": seconds,
        "val_acc": ev.accuracy,
        "cache_build_seconds": cache_build,
        "precision": precision.name,
    }


class CpuMeter:
    """Cores' worth of CPU that *other* processes burned while the block ran (0 = quiet box)."""

    @staticmethod
    def _sample() -> tuple[float, float, float]:
        try:  # Linux only; elsewhere the meter reads nan
            stat = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
            fields = [int(v) for v in stat]
            busy = (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # not idle
        except (OSError, ValueError):
            busy = float("nan")
        ours = sum(
            getattr(resource.getrusage(who), f)
            for f in ("ru_utime", "ru_stime")
            for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
        )
        return time.perf_counter(), busy, ours

    def __enter__(self) -> CpuMeter:
        self.start, self.others = self._sample(), float("nan")
        return self

    def __exit__(self, *exc) -> None:
        (t0, b0, o0), (t1, b1, o1) = self.start, self._sample()
        self.others = max((b1 - b0) - (o1 - o0), 0.0) / max(t1 - t0, 1e-9)


def steady(seconds: list[float]) -> float:
    return statistics.median(seconds[1:] if len(seconds) > 1 else seconds)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        type=Path,
        default=REPO.parent / "shared/data/hymenoptera",
        help="ImageFolder root holding train/ and val/",
    )
    parser.add_argument("--epochs", type=int, default=4, help="epochs per side (first = warm-up)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128], help="resolutions")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 epochs, 64 px only")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/epoch_time.json")
    args = parser.parse_args()
    if args.quick:
        args.epochs, args.sizes = 2, [64]
    data = args.data.expanduser().resolve()

    rows = []
    with tempfile.TemporaryDirectory(prefix="automl-bench-cache-") as tmp:
        for res in args.sizes:
            with CpuMeter() as plain_cpu:
                plain = run_plain(data, res, args.epochs)
            with CpuMeter() as auto_cpu:
                auto = run_automl(data, res, args.epochs, Path(tmp))
            p, a = steady(plain["epoch_seconds"]), steady(auto["epoch_seconds"])
            rows.append(
                {
                    "resolution": res,
                    "plain_s_per_epoch": p,
                    "automl_s_per_epoch": a,
                    "speedup": p / a,
                    "plain_val_acc": plain["val_acc"],
                    "automl_val_acc": auto["val_acc"],
                    "cache_build_seconds": auto["cache_build_seconds"],
                    "plain_epoch_seconds": plain["epoch_seconds"],
                    "automl_epoch_seconds": auto["epoch_seconds"],
                    "automl_precision": auto["precision"],
                    "other_procs_cores": [plain_cpu.others, auto_cpu.others],
                }
            )

    env = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": cpu_name(),
        "epochs": args.epochs,
        "batch_size": BATCH,
        "data": str(data),
    }
    header = (
        f"{'res':>4}  {'plain s/epoch':>13}  {'automl s/epoch':>14}  {'speed-up':>8}  "
        f"{'plain val acc':>13}  {'automl val acc':>14}  {'cache build s':>13}  "
        f"{'others cores':>12}"
    )
    print(header)
    for r in rows:
        print(
            f"{r['resolution']:>4}  {r['plain_s_per_epoch']:>13.3f}  "
            f"{r['automl_s_per_epoch']:>14.3f}  {r['speedup']:>7.1f}x  "
            f"{r['plain_val_acc']:>13.3f}  {r['automl_val_acc']:>14.3f}  "
            f"{r['cache_build_seconds']:>13.2f}  "
            f"{'/'.join(f'{c:.1f}' for c in r['other_procs_cores']):>12}"
        )
    print(
        f"torch {env['torch']}, {env['threads']} threads, {env['cpu']}; "
        f"{args.epochs} epochs, median of epochs 2..{args.epochs}, batch {BATCH}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"env": env, "rows": rows}, indent=2) + "\n")
    if any(max(r["other_procs_cores"]) > 0.25 for r in rows):
        print(
            "warning: other processes used CPU during the run (others cores = plain/automl "
            "average); times are inflated, rerun on a quiet machine"
        )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
