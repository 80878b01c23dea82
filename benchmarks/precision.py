"""One training step in each precision x memory format, and what `--precision auto` picks.

For each model (the three of the precision issue, plus the digits demo's), one step of 64
images (forward, backward, AdamW) in fp32 and bf16 autocast, contiguous and channels_last,
all in one run and interleaved; the figure is the median of the timed steps after a warm-up.
Then what automl decides on this machine: the precision `auto` resolves to (with its
reason) and the memory format its per-model measurement picks, and whether that is the
fastest cell of the row (ratio = automl's cell / the row's fastest).

`--compile` adds torch.compile: compile time of the first step, steady step time, and the
steps a trial must run before compiling pays back. `--isa avx2` reruns the whole benchmark
in a child process whose oneDNN and ATen kernels are capped at AVX2 (ONEDNN_MAX_CPU_ISA,
ATEN_CPU_CAPABILITY), which is what a CPU without native bf16 runs.

Usage: python benchmarks/precision.py [--isa avx2] [--compile] [--steps 4]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from automl.models import create_model
from automl.models.scratch_cnn import ScratchCNNConfig
from automl.train.machine import intra_op_threads, usable_cores
from automl.train.memory_format import channels_last_pays
from automl.train.precision import resolve_precision

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ISA_CAPS, machine_line, rerun_capped  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
BATCH = 64
MODELS = {
    "64 px, 5 x 32 filters, k3, ReLU": (ScratchCNNConfig(base_filters=32), 64),
    "96 px, 16 doubling, k5, Mish": (
        ScratchCNNConfig(base_filters=16, filter_org="double", kernel_size=5, activation="mish"),
        96,
    ),
    "128 px, 5 x 32 filters, k3, ReLU": (ScratchCNNConfig(base_filters=32), 128),
    "32 px, 5 x 16 filters, k3, no BN (demo)": (
        ScratchCNNConfig(base_filters=16, batch_norm=False, dense_units=64),
        32,
    ),
}
CELLS = [("fp32", False), ("fp32", True), ("bf16", False), ("bf16", True)]


def cell_name(precision: str, channels_last: bool) -> str:
    return precision + (" + CL" if channels_last else "")


def stepper(cfg, res: int, precision: str, channels_last: bool, compiled: bool = False):
    torch.manual_seed(0)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = create_model(cfg, num_classes=10, in_chans=3, resolution=res).to(memory_format=fmt)
    run = torch.compile(model) if compiled else model
    x = torch.randn(BATCH, 3, res, res).contiguous(memory_format=fmt)
    y = torch.randint(0, 10, (BATCH,))
    optimizer = torch.optim.AdamW(model.parameters(), 1e-3)
    criterion = nn.CrossEntropyLoss()

    def step() -> float:
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = criterion(run(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return time.perf_counter() - start

    return step


def step_table(steps: int) -> list[dict]:
    rows = []
    for name, (cfg, res) in MODELS.items():
        runs = {cell: stepper(cfg, res, *cell) for cell in CELLS}
        for run in runs.values():
            run()  # warm-up: builds oneDNN's kernels for the shape
        times: dict = {cell: [] for cell in CELLS}
        for _ in range(steps):
            for cell, run in runs.items():
                times[cell].append(run())
        rows.append(
            {
                "model": name,
                "ms": {cell_name(*c): statistics.median(t) * 1e3 for c, t in times.items()},
            }
        )
    return rows


def automl_choices(rows: list[dict], cache_dir: Path) -> dict:
    start = time.perf_counter()
    precision = resolve_precision("auto", torch.device("cpu"), cache_dir)
    choice = {"precision": precision.name, "reason": precision.reason}
    choice["precision_seconds"] = time.perf_counter() - start
    for row, (cfg, res) in zip(rows, MODELS.values(), strict=True):
        model = create_model(cfg, num_classes=10, in_chans=3, resolution=res)
        start = time.perf_counter()
        cl = channels_last_pays(model, (min(BATCH, 32), 3, res, res), precision)
        row["probe_seconds"] = time.perf_counter() - start
        row["automl"] = cell_name(precision.name, cl)
        row["vs_fastest"] = row["ms"][row["automl"]] / min(row["ms"].values())
    return choice


def compile_table(steps: int) -> list[dict]:
    rows = []
    for name, (cfg, res) in MODELS.items():
        for precision in ("fp32", "bf16"):
            eager = stepper(cfg, res, precision, True)
            compiled = stepper(cfg, res, precision, True, compiled=True)
            eager()
            first = compiled()
            e = statistics.median(eager() for _ in range(steps))
            c = statistics.median(compiled() for _ in range(steps))
            saved = e - c
            rows.append(
                {
                    "model": name,
                    "precision": precision,
                    "compile_s": first,
                    "eager_ms": e * 1e3,
                    "compiled_ms": c * 1e3,
                    "break_even_steps": first / saved if saved > 0 else None,
                }
            )
            torch._dynamo.reset()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4, help="timed steps per cell")
    parser.add_argument("--isa", choices=sorted(ISA_CAPS), help="cap the kernels' ISA")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/precision.json")
    args = parser.parse_args()
    rerun_capped(args.isa)

    with intra_op_threads(usable_cores()), tempfile.TemporaryDirectory() as tmp:
        print(machine_line(args.isa))
        rows = step_table(args.steps)
        choice = automl_choices(rows, Path(tmp))
        width = max(len(r["model"]) for r in rows)
        names = [cell_name(*c) for c in CELLS]
        print(f"one training step, batch {BATCH}, median of {args.steps} (ms):")
        print(f"{'model':<{width}}  " + "  ".join(f"{n:>10}" for n in names) + "  automl picks")
        for r in rows:
            cells = "  ".join(f"{r['ms'][n]:>10,.0f}" for n in names)
            print(
                f"{r['model']:<{width}}  {cells}  {r['automl']} ({r['vs_fastest']:.2f}x the "
                f"fastest; probe {r['probe_seconds']:.2f} s)"
            )
        print(
            f"auto precision: {choice['precision']} ({choice['reason']}; "
            f"{choice['precision_seconds']:.2f} s, once per machine)"
        )
        compiled = compile_table(args.steps) if args.compile else []
        if compiled:
            print("torch.compile (channels_last): compile s, eager ms, compiled ms, break-even:")
            for r in compiled:
                even = (
                    f"{r['break_even_steps']:,.0f} steps"
                    if r["break_even_steps"]
                    else "never (not faster)"
                )
                print(
                    f"{r['model']:<{width}}  {r['precision']}  {r['compile_s']:6.1f} s  "
                    f"{r['eager_ms']:7.0f}  {r['compiled_ms']:7.0f}  {even}"
                )
    out = args.out.with_name(args.out.stem + (f"-{args.isa}" if args.isa else "") + ".json")
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {"machine": machine_line(args.isa), "auto": choice}
    out.write_text(json.dumps({**report, "steps": rows, "compile": compiled}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
