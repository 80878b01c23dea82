"""channels_last only where it pays: decided per model by timing a step in both layouts.

channels_last makes oneDNN's 3x3 convolutions 1.3-3x faster on most CPUs, and some models
(5x5 kernels, widening filters) slower on others. The decision is measured once per
architecture, input shape, precision and machine, and cached with the machine's other
measurements, so every trial of the same architecture (and finalize) trains the same way.
"""

from __future__ import annotations

import hashlib
import logging

from torch import nn

from automl.train import measure
from automl.train.precision import Precision

log = logging.getLogger(__name__)


def architecture_key(
    model: nn.Module, shape: tuple[int, ...], precision: Precision, train: bool
) -> str:
    """What the timing depends on: the layers (their repr lists every shape), input shape,
    precision and whether the step trains."""
    text = "|".join([repr(model), str(tuple(shape)), precision.name, str(train)])
    return "memory_format:" + hashlib.blake2b(text.encode(), digest_size=10).hexdigest()


def pays(seconds: dict[str, float]) -> bool:
    """channels_last wins: it took at most MARGIN of the contiguous layout's time."""
    return seconds["channels_last"] <= measure.MARGIN * seconds["contiguous"]


def measured(
    model: nn.Module, shape: tuple[int, ...], precision: Precision, train: bool
) -> dict[str, float] | None:
    """The seconds of each layout measured before for this architecture, if any."""
    seconds = precision.measurements().get(architecture_key(model, shape, precision, train))
    if isinstance(seconds, dict) and {"contiguous", "channels_last"} <= seconds.keys():
        return seconds
    return None


def remember(
    model: nn.Module,
    shape: tuple[int, ...],
    precision: Precision,
    train: bool,
    seconds: dict[str, float],
) -> bool:
    """Keep what a run measured itself (a frozen backbone's feature pass times its first
    batches in both layouts) as if probed; returns whether channels_last pays."""
    precision.measurements().put(architecture_key(model, shape, precision, train), seconds)
    return pays(seconds)


def channels_last_pays(
    model: nn.Module, shape: tuple[int, ...], precision: Precision, *, train: bool = True
) -> bool:
    """True when `model` steps measurably faster on channels_last inputs of `shape`."""
    if len(shape) != 4:
        return False
    seconds = measured(model, shape, precision, train)
    if seconds is None:
        seconds = measure.measure_memory_format(
            model, shape, precision.device, precision.dtype, train
        )
        log.debug(
            "memory format for %s: contiguous %.1f ms, channels_last %.1f ms",
            type(model).__name__,
            seconds["contiguous"] * 1e3,
            seconds["channels_last"] * 1e3,
        )
        return remember(model, shape, precision, train, seconds)
    return pays(seconds)
