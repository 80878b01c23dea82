"""What this machine computes natively, how many cores it may use, and a cache of measurements.

Which precision and memory format train fastest is a property of the machine and the model, so
it is measured, not assumed; the measurements are kept per machine and torch version in a
small JSON file under the studies folder and reused by every later run on the same machine.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import platform
from pathlib import Path
from typing import Any

import torch

from automl.io import write_json

log = logging.getLogger(__name__)
CACHE_VERSION = 1  # bump when what is measured changes, so old measurements are not reused


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_capability() -> str:
    """The instruction set ATen's CPU kernels dispatch to: DEFAULT, AVX2, AVX512, ZVECTOR..."""
    return torch.backends.cpu.get_cpu_capability()


def cpu_bf16_native() -> bool:
    """True where oneDNN computes bf16 in hardware (AVX512-BF16, AMX, Arm's BF16 extension).

    Elsewhere bf16 is emulated by conversions around fp32 arithmetic: slower than fp32 itself.
    """
    supported = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    if supported is None:  # a torch without the check: trust the AVX512-BF16 / AMX flags
        cpu = torch.cpu
        flags = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        return any(getattr(cpu, flag, lambda: False)() for flag in flags)
    return bool(torch.backends.mkldnn.is_available() and supported())


def usable_cores() -> int:
    """CPUs this process may run on: its affinity mask, capped by a cgroup CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, -(-int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cores)


@contextlib.contextmanager
def intra_op_threads(threads: int):
    """torch's intra-op threads set to `threads` for the block, then put back as they were."""
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def default_threads() -> int:
    """OMP_NUM_THREADS where the user set it, else every usable core."""
    try:
        return max(1, int(os.environ["OMP_NUM_THREADS"]))
    except (KeyError, ValueError):
        return usable_cores()


def capability_line(device: torch.device | None = None) -> str:
    """One line that says which kind of machine a figure comes from."""
    parts = [
        cpu_name(),
        platform.machine(),
        f"torch {torch.__version__}",
        f"ATen {cpu_capability()}",
        f"bf16 {'native' if cpu_bf16_native() else 'emulated'}",
        f"{torch.get_num_threads()} threads of {usable_cores()} cores",
    ]
    if device is not None and device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        bf16 = "bf16" if torch.cuda.is_bf16_supported() else "no bf16"
        parts.append(f"{props.name} (sm {props.major}.{props.minor}, {bf16})")
    return "; ".join(parts)


def machine_key(device: torch.device) -> str:
    """Measurements hold for one machine, device, torch build and thread count."""
    facts = [
        cpu_name(),
        platform.machine(),
        torch.__version__,
        cpu_capability(),
        str(cpu_bf16_native()),
        str(torch.get_num_threads()),
        str(CACHE_VERSION),
    ]
    if device.type == "cuda":
        facts.append(torch.cuda.get_device_name(device))
    return hashlib.blake2b("|".join(facts).encode(), digest_size=8).hexdigest()


class MeasurementCache:
    """Measurements by name in `<cache_dir>/machine-<key>.json`; in memory only without a dir.

    A file that cannot be read is ignored with a warning (and replaced on the next write): a
    measurement is only ever a thing to redo, never a reason to stop.
    """

    def __init__(self, cache_dir: Path | str | None, device: torch.device) -> None:
        key = machine_key(device)
        self.path = None if cache_dir is None else Path(cache_dir) / f"machine-{key}.json"
        self._memo: dict[str, Any] = {}
        self._read = False

    def _load(self) -> dict[str, Any]:
        if self.path is None or not self.path.is_file():
            return {}
        try:
            data = json.loads(self.path.read_text())
            if not isinstance(data, dict):
                raise ValueError(f"holds a {type(data).__name__}, not an object")
            return data
        except (OSError, ValueError) as exc:
            log.warning("ignoring the unreadable measurement cache %s (%s)", self.path, exc)
            return {}

    def get(self, name: str) -> Any:
        if not self._read:
            self._memo = {**self._load(), **self._memo}
            self._read = True
        return self._memo.get(name)

    def put(self, name: str, value: Any) -> None:
        self._memo[name] = value
        if self.path is None:
            return
        try:  # merge with what other processes wrote meanwhile; a lost update is remeasured
            write_json(self.path, {**self._load(), name: value})
        except OSError as exc:
            log.warning("could not save a measurement to %s (%s)", self.path, exc)


_caches: dict[tuple[str, str], MeasurementCache] = {}


def measurement_cache(cache_dir: Path | str | None, device: torch.device) -> MeasurementCache:
    """One cache object per (folder, machine key) in a process, so decisions stay stable."""
    key = (str(cache_dir), machine_key(device))
    if key not in _caches:
        _caches[key] = MeasurementCache(cache_dir, device)
    return _caches[key]
