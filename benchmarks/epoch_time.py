"""Steady-state epoch time: automl's trainer vs a plain loop and vs the bare step's limit.

Same model (5-block CNN, 32 filters per block), same data (hymenoptera photos), same seed.
- plain: the loop users hand-write: a DataLoader decoding and resizing every JPEG with PIL on
  every epoch, fp32, contiguous tensors.
- bare: the limit: nothing but forward, backward and Adam over the same batches, on tensors
  already decoded, normalised and laid out in memory; once for each precision x memory
  format this machine can run (fp32 and bf16 autocast, contiguous and channels_last).
- automl: decode-once uint8 cache (built before timing, reported separately), then fit()
  with what `--precision auto` and the per-model memory-format measurement pick here.
Epoch 1 is warm-up; the reported time is the median of epochs 2..E. "vs limit" is automl's
epoch time over the fastest bare cell's (the goal: within 15%, at most 1.15x).
On a CUDA machine the same comparison runs on the GPU (fp32 and the half precision `auto`
picks there), with the uint8 pool resident on the device; and fit() with augmentation, the
pool resident vs staged through the pinned buffer. `--gpu` runs only those rows.
Usage: python benchmarks/epoch_time.py [--quick] [--isa avx2] [--gpu]
"""

from __future__ import annotations

import argparse
import json
import sys
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
from automl.train.machine import intra_op_threads, usable_cores
from automl.train.precision import resolve_precision

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ISA_CAPS, CpuMeter, machine_line, rerun_capped, steady  # noqa: E402

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


def held_out(data: Path) -> Path:
    """The held-out folder of an ImageFolder root: val/ (hymenoptera's), else test/."""
    return data / "val" if (data / "val").is_dir() else data / "test"


def run_plain(data: Path, res: int, epochs: int) -> dict:
    """The loop users hand-write today: ImageFolder + PIL transforms every epoch, fp32, Adam."""
    torch.manual_seed(SEED)
    train = plain_loader(data / "train", res, shuffle=True)
    classes = len(train.dataset.classes)
    model = create_model(MODEL, num_classes=classes, in_chans=3, resolution=res)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    criterion = nn.CrossEntropyLoss()
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
        for x, y in plain_loader(held_out(data), res, shuffle=False):
            correct += (model(x).argmax(1) == y).sum().item()
            seen += len(y)
    return {"epoch_seconds": seconds, "val_acc": correct / seen}


def run_automl(data: Path, res: int, epochs: int, cache_dir: Path, device: str = "cpu") -> dict:
    """automl's own path: decode-once cache, then fit() as `--precision auto` decides."""
    source = open_source(data, held_out(data))
    start = time.perf_counter()
    pool = source.train_pool(res, cache_dir)
    cache_build = time.perf_counter() - start
    precision = resolve_precision("auto", torch.device(device), cache_dir)
    cfg = TrialConfig(
        model=MODEL,
        optim=OptimConfig(name="adam", lr=LR, scheduler="constant"),
        data=DataConfig(resolution=res, batch_size=BATCH, augment="none"),
    )
    seconds = []
    start = time.perf_counter()
    result = fit(
        cfg,
        (pool.images, pool.labels),
        None,
        num_classes=len(source.classes),
        epochs=epochs,
        precision=precision,
        seed=SEED,
        on_epoch=lambda epoch, row: seconds.append(row["seconds"]),
    )
    setup = time.perf_counter() - start - sum(seconds)
    held = source.held_out(res, cache_dir)
    batches = Batches(
        held.images,
        held.labels,
        256,
        mean=result.mean,
        std=result.std,
        device=precision.device,
        channels_last=result.channels_last,
    )
    ev = evaluate(result.model, nn.CrossEntropyLoss(), batches, precision)
    return {
        "epoch_seconds": seconds,
        "val_acc": ev.accuracy,
        "cache_build_seconds": cache_build,
        "setup_seconds": setup,  # model build (the layout is chosen in epoch 1)
        "cell": cell_name(precision.name, result.channels_last),
        "reason": precision.reason,
        "pool": pool,
    }


def run_bare(
    pool, res: int, epochs: int, precision: str, channels_last: bool, device: str = "cpu"
) -> list[float]:
    """Forward, backward and Adam only, on batches already in memory (on `device`): the
    limit. fp16 (CUDA only) takes a GradScaler, as it needs one to train at all."""
    torch.manual_seed(SEED)
    dev = torch.device(device)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    classes = int(pool.labels.max()) + 1
    model = create_model(MODEL, num_classes=classes, in_chans=3, resolution=res)
    model = model.to(dev, memory_format=fmt)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    criterion = nn.CrossEntropyLoss()
    scaler = torch.amp.GradScaler(dev.type, enabled=precision == "fp16")
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    x = pool.images.to(dev).float().div(255)
    x = (x - x.mean((0, 2, 3), keepdim=True)) / x.std((0, 2, 3), keepdim=True)
    labels = pool.labels.to(dev)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(SEED)).to(dev)
    batches = [(x[i].contiguous(memory_format=fmt), labels[i]) for i in order.split(BATCH)]
    seconds = []
    model.train()
    for _ in range(epochs):
        start = time.perf_counter()
        for xb, yb in batches:
            with torch.autocast(dev.type, dtype=dtype, enabled=dtype is not None):
                loss = criterion(model(xb), yb)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        seconds.append(time.perf_counter() - start)
    return seconds


CELLS = [("fp32", False), ("fp32", True), ("bf16", False), ("bf16", True)]


def cell_name(precision: str, channels_last: bool) -> str:
    return precision + (" + CL" if channels_last else "")


def cuda_row(data: Path, res: int, epochs: int, cache_dir: Path) -> dict:
    """On the GPU: automl's epoch (pool resident, augment none) vs the fastest bare cell of
    fp32 and the half precision `auto` picks, each contiguous and channels_last; then fit()
    with augmentation, the pool resident vs staged."""
    auto = run_automl(data, res, epochs, cache_dir, "cuda")
    half = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    cells = [("fp32", False), ("fp32", True), (half, False), (half, True)]
    bare = {
        cell_name(*cell): steady(run_bare(auto["pool"], res, epochs, *cell, "cuda"))
        for cell in cells
    }
    fastest = min(bare, key=bare.get)
    a = steady(auto["epoch_seconds"])
    return {
        "resolution": res,
        "automl_s_per_epoch": a,
        "automl_cell": auto["cell"],
        "automl_reason": auto["reason"],
        "automl_val_acc": auto["val_acc"],
        "bare_s_per_epoch": bare,
        "fastest_bare": fastest,
        "vs_limit": a / bare[fastest],
        **{
            kind: run_cuda(auto["pool"], res, epochs, cache_dir, kind == "resident")
            for kind in ("staged", "resident")
        },
    }


def run_cuda(pool, res: int, epochs: int, cache_dir: Path, resident: bool) -> float:
    """s/epoch of fit() on the GPU, the uint8 pool on the device (resident) or sent batch by
    batch through the pinned staging buffer (the fallback for a pool that does not fit)."""
    from automl.data import batches as batches_module

    device = torch.device("cuda")
    precision = resolve_precision("auto", device, cache_dir)
    cfg = TrialConfig(
        model=MODEL,
        optim=OptimConfig(name="adam", lr=LR, scheduler="constant"),
        data=DataConfig(resolution=res, batch_size=BATCH, augment="basic"),
    )
    share = batches_module.RESIDENT_SHARE
    batches_module.RESIDENT_SHARE = share if resident else 0.0
    seconds: list[float] = []
    try:
        fit(
            cfg,
            (pool.images, pool.labels),
            None,
            num_classes=int(pool.labels.max()) + 1,
            epochs=epochs,
            precision=precision,
            seed=SEED,
            on_epoch=lambda epoch, row: seconds.append(row["seconds"]),
        )
    finally:
        batches_module.RESIDENT_SHARE = share
    return steady(seconds)


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
    parser.add_argument("--isa", choices=sorted(ISA_CAPS), help="cap the kernels' ISA")
    parser.add_argument("--gpu", action="store_true", help="only the GPU rows (make gpu-check)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/epoch_time.json")
    args = parser.parse_args()
    if args.gpu and not torch.cuda.is_available():
        parser.error("--gpu needs a CUDA device; none is visible")
    rerun_capped(args.isa)
    if args.quick:
        args.epochs, args.sizes = 2, [64]
    data = args.data.expanduser().resolve()

    rows, cuda_rows = [], []
    with (
        tempfile.TemporaryDirectory(prefix="automl-bench-cache-") as tmp,
        intra_op_threads(usable_cores()),
    ):
        machine = machine_line(args.isa)
        print(machine)
        for res in args.sizes:
            if args.gpu:
                cuda_rows.append(cuda_row(data, res, args.epochs, Path(tmp)))
                continue
            with CpuMeter() as plain_cpu:
                plain = run_plain(data, res, args.epochs)
            with CpuMeter() as auto_cpu:
                auto = run_automl(data, res, args.epochs, Path(tmp))
            with CpuMeter() as bare_cpu:
                bare = {
                    cell_name(*cell): steady(run_bare(auto["pool"], res, args.epochs, *cell))
                    for cell in CELLS
                }
            p, a = steady(plain["epoch_seconds"]), steady(auto["epoch_seconds"])
            fastest = min(bare, key=bare.get)
            rows.append(
                {
                    "resolution": res,
                    "plain_s_per_epoch": p,
                    "automl_s_per_epoch": a,
                    "speedup": p / a,
                    "automl_cell": auto["cell"],
                    "automl_reason": auto["reason"],
                    "bare_s_per_epoch": bare,
                    "fastest_bare": fastest,
                    "vs_limit": a / bare[fastest],
                    "plain_val_acc": plain["val_acc"],
                    "automl_val_acc": auto["val_acc"],
                    "cache_build_seconds": auto["cache_build_seconds"],
                    "automl_setup_seconds": auto["setup_seconds"],
                    "plain_epoch_seconds": plain["epoch_seconds"],
                    "automl_epoch_seconds": auto["epoch_seconds"],
                    "other_procs_cores": [plain_cpu.others, auto_cpu.others, bare_cpu.others],
                }
            )
            if torch.cuda.is_available():
                cuda_rows.append(cuda_row(data, res, args.epochs, Path(tmp)))

    if rows:
        print_cpu_rows(rows, args.epochs)
    if cuda_rows:
        print_cuda_rows(cuda_rows, args.epochs)
    else:
        print("CUDA: no GPU here; the resident-pool figures need one")
    env = {"machine": machine, "epochs": args.epochs, "batch_size": BATCH, "data": str(data)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    out = args.out.with_name(args.out.stem + (f"-{args.isa}" if args.isa else "") + ".json")
    out.write_text(json.dumps({"env": env, "rows": rows, "cuda": cuda_rows}, indent=2) + "\n")
    if any(max(r["other_procs_cores"]) > 0.25 for r in rows):
        print(
            "warning: other processes used CPU during the run (others = cores used by other "
            "processes during plain/automl/bare); times are inflated, rerun on a quiet machine"
        )
    print(f"wrote {out}")


def print_cpu_rows(rows: list[dict], epochs: int) -> None:
    print(f"s/epoch, median of epochs 2..{epochs}, batch {BATCH}:")
    names = [cell_name(*c) for c in CELLS]
    print(
        f"{'res':>4}  {'plain':>6}  "
        + "  ".join(f"{'bare ' + n:>14}" for n in names)
        + f"  {'automl':>6}  {'picks':>9}  {'speed-up':>8}  {'vs limit':>8}  "
        f"{'val acc plain/automl':>20}  {'cache s':>7}  {'setup s':>7}  {'others':>11}"
    )
    for r in rows:
        bare = "  ".join(f"{r['bare_s_per_epoch'][n]:>14.3f}" for n in names)
        print(
            f"{r['resolution']:>4}  {r['plain_s_per_epoch']:>6.3f}  {bare}  "
            f"{r['automl_s_per_epoch']:>6.3f}  {r['automl_cell']:>9}  {r['speedup']:>7.1f}x  "
            f"{r['vs_limit']:>7.2f}x  "
            f"{r['plain_val_acc']:>9.3f} / {r['automl_val_acc']:.3f}  "
            f"{r['cache_build_seconds']:>7.2f}  {r['automl_setup_seconds']:>7.2f}  "
            f"{'/'.join(f'{c:.1f}' for c in r['other_procs_cores']):>11}"
        )
    print(f"automl's precision: {rows[0]['automl_reason']}")


def print_cuda_rows(rows: list[dict], epochs: int) -> None:
    names = list(rows[0]["bare_s_per_epoch"])
    print(
        f"CUDA ({torch.cuda.get_device_name()}), s/epoch, median of epochs 2..{epochs}, "
        f"batch {BATCH}; automl and bare without augmentation, staged/resident with basic:"
    )
    print(
        f"{'res':>4}  "
        + "  ".join(f"{'bare ' + n:>14}" for n in names)
        + f"  {'automl':>6}  {'picks':>9}  {'vs limit':>8}  {'staged':>8}  {'resident':>8}"
    )
    for r in rows:
        bare = "  ".join(f"{r['bare_s_per_epoch'][n]:>14.3f}" for n in names)
        print(
            f"{r['resolution']:>4}  {bare}  {r['automl_s_per_epoch']:>6.3f}  "
            f"{r['automl_cell']:>9}  {r['vs_limit']:>7.2f}x  {r['staged']:>8.3f}  "
            f"{r['resident']:>8.3f}"
        )
    print(f"automl's precision on the GPU: {rows[0]['automl_reason']}")


if __name__ == "__main__":
    main()
