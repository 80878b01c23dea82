"""automl.nn's conv2d against torch's: the time ratio per case family and the whole matrix.

Every case of `tests/nn/cases.py`'s `conv_cases()` (the matrix tests/nn checks: 4,050 cases, 10
channel pairs 1->3 ... 243->16 and 5 group counts 4 ... 64, each x 15 kernels x dilation 1-3 x
stride 1-3 x bias) runs forward + backward (input, weight, bias gradients) with torch's
`F.conv2d` and with automl's, alternating case by case so that a busy neighbour slows both
alike; per case the best of --repeat runs counts. A second table times the convolutions of a
ResNet-20 at training size (batch 64, 32 px, channels_last). Ratio = automl time / torch
time (above 1: automl slower). Usage: python benchmarks/conv2d.py [--repeat 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch
import torch.nn.functional as F

from automl.nn.conv import conv2d

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "nn"))
from cases import conv_cases  # noqa: E402  (the case matrix lives with the tests)
from common import CpuMeter  # noqa: E402

from automl.train.machine import cpu_name  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
# (name, in, out, kernel, stride, side): the convolutions of a ResNet-20 (He et al. 4.2)
RESNET20 = [
    ("stem 3->16", 3, 16, 3, 1, 32),
    ("stage 1 16->16", 16, 16, 3, 1, 32),
    ("down 16->32 s2", 16, 32, 3, 2, 32),
    ("stage 2 32->32", 32, 32, 3, 1, 16),
    ("down 32->64 s2", 32, 64, 3, 2, 16),
    ("stage 3 64->64", 64, 64, 3, 1, 8),
    ("shortcut 1x1 16->32", 16, 32, 1, 1, 16),
]


def fwd_bwd(fn, x, w, b, kwargs) -> float:
    """Seconds for one forward and backward (input, weight and bias gradients)."""
    inputs = [x, w] + ([b] if b is not None else [])
    start = time.perf_counter()
    out = fn(x, w, b, **kwargs)
    torch.autograd.grad(out, inputs, torch.ones_like(out))
    return time.perf_counter() - start


def run_matrix(repeat: int, dtype: torch.dtype) -> tuple[list[dict], dict]:
    g = torch.Generator().manual_seed(0)
    per_family: dict[str, dict] = defaultdict(lambda: {"cases": 0, "torch": 0.0, "automl": 0.0})
    wall = {"torch": 0.0, "automl": 0.0}
    for case in conv_cases():
        x = torch.randn(2, case.in_channels, *case.input_size(), dtype=dtype, generator=g)
        w = torch.randn(case.weight_shape(), dtype=dtype, generator=g)
        b = torch.randn(case.out_channels, dtype=dtype, generator=g) if case.bias else None
        for t in (x, w, b):
            if t is not None:
                t.requires_grad_()
        row = per_family[case.family]
        row["cases"] += 1
        for name, fn in (("torch", F.conv2d), ("automl", conv2d)):
            times = [fwd_bwd(fn, x, w, b, case.kwargs()) for _ in range(repeat)]
            row[name] += min(times)
            wall[name] += sum(times) / repeat
    rows = [{"family": k, **v, "ratio": v["automl"] / v["torch"]} for k, v in per_family.items()]
    return rows, wall


def run_resnet(repeat: int) -> list[dict]:
    rows = []
    for name, c_in, c_out, k, stride, side in RESNET20:
        x = torch.randn(64, c_in, side, side).to(memory_format=torch.channels_last)
        x.requires_grad_()
        w = torch.randn(c_out, c_in, k, k, requires_grad=True)
        kwargs = {"stride": stride, "padding": k // 2}
        best = {}
        for impl, fn in (("torch", F.conv2d), ("automl", conv2d)):
            fwd_bwd(fn, x, w, None, kwargs)  # warm-up
            best[impl] = min(fwd_bwd(fn, x, w, None, kwargs) for _ in range(repeat))
        rows.append({"layer": name, **best, "ratio": best["automl"] / best["torch"]})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per case; the best counts")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (tiny tensors: 1)")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/conv2d.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)

    with CpuMeter() as matrix_cpu:
        start = time.perf_counter()
        matrix, wall = run_matrix(args.repeat, dtype)
        matrix_wall = time.perf_counter() - start
    with CpuMeter() as resnet_cpu:
        resnet = run_resnet(args.repeat)

    print(f"case matrix, forward + backward, {args.dtype}, best of {args.repeat} per case")
    print(f"{'family':<24} {'cases':>5} {'torch s':>8} {'automl s':>8} {'ratio':>6}")
    for r in matrix:
        print(
            f"{r['family']:<24} {r['cases']:>5} {r['torch']:>8.3f} {r['automl']:>8.3f} "
            f"{r['ratio']:>5.2f}x"
        )
    t_sum, a_sum = sum(r["torch"] for r in matrix), sum(r["automl"] for r in matrix)
    cases = sum(r["cases"] for r in matrix)
    print(f"{'all':<24} {cases:>5} {t_sum:>8.3f} {a_sum:>8.3f} {a_sum / t_sum:>5.2f}x")
    print(
        f"one pass over the whole matrix, mean of the {args.repeat} runs (torch's first run of "
        f"a shape also builds its oneDNN kernel): torch {wall['torch']:.2f} s, automl "
        f"{wall['automl']:.2f} s; the matrix part of this benchmark took {matrix_wall:.1f} s"
    )
    print()
    print("ResNet-20 convolutions at training size: batch 64, channels_last, float32")
    print(f"{'layer':<24} {'torch ms':>8} {'automl ms':>9} {'ratio':>6}")
    for r in resnet:
        print(
            f"{r['layer']:<24} {r['torch'] * 1e3:>8.2f} {r['automl'] * 1e3:>9.2f} "
            f"{r['ratio']:>5.2f}x"
        )
    env = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": cpu_name(),
        "dtype": args.dtype,
        "repeat": args.repeat,
        "other_procs_cores": [matrix_cpu.others, resnet_cpu.others],
    }
    print(f"torch {env['torch']}, {env['threads']} thread(s), {env['cpu']}")
    if max(env["other_procs_cores"]) > 0.25:
        print(
            f"warning: other processes used {max(env['other_procs_cores']):.1f} cores during "
            "the run; times are inflated, rerun on a quiet machine"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {"env": env, "matrix": matrix, "matrix_wall": wall, "resnet20": resnet}
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
