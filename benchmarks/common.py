"""What every benchmark here shares: the machine line, a CPU-load meter, an ISA cap."""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

# Kernels capped at AVX2 run what a CPU without native bf16 runs (oneDNN and ATen both
# honour these); set only in the child process that reruns the benchmark.
ISA_CAPS = {"avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}}


def rerun_capped(isa: str | None) -> None:
    """With `isa`, rerun this script in a child whose kernels are capped there, and exit."""
    if isa and not os.environ.get("AUTOML_BENCH_CHILD"):
        env = {**os.environ, **ISA_CAPS[isa], "AUTOML_BENCH_CHILD": "1"}
        sys.exit(subprocess.call([sys.executable, *sys.argv], env=env))


def machine_line(isa: str | None = None) -> str:
    from automl.train.machine import capability_line

    return capability_line() + (f" (kernels capped at {isa})" if isa else "")


def write_results(path: Path, data: dict) -> None:
    """A benchmark's figures as JSON under benchmarks/results/ (git-ignored)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {path}")


def steady(seconds: list[float]) -> float:
    """Median of all but the first (warm-up) epoch."""
    return statistics.median(seconds[1:] if len(seconds) > 1 else seconds)


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


def hymenoptera_config(resolution: int) -> dict:
    """search_spaces/scratch_cnn.py PORTFOLIO[0] at batch 32, every param pinned: the
    fixed model of the benchmarks that train one configuration on hymenoptera."""
    return {
        "base_filters": 32, "filter_org": "same", "kernel_size": 3, "activation": "gelu",
        "batch_norm": True, "dropout": 0.2, "dense_units": 128, "optimizer": "adamw",
        "lr": 2e-3, "weight_decay": 1e-4, "resolution": resolution, "batch_size": 32,
        "augment": "basic",
    }  # fmt: skip
