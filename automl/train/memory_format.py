"""channels_last only where it pays: decided per model by timing steps in both layouts.

channels_last makes oneDNN's 3x3 convolutions 1.3-3x faster on most CPUs, and some models
(5x5 kernels, widening filters) slower on others. A run times its own first batches in both
layouts (`LayoutChoice`), so choosing costs no extra step; the decision is kept per
architecture, image shape, precision and machine with the machine's other measurements, so
every trial of the same architecture (and finalize) trains the same way.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Iterable, Iterator

import torch
from torch import nn

from automl.train import measure
from automl.train.precision import Precision

log = logging.getLogger(__name__)
TRYING = (False, True, False, True)  # layouts (channels_last?) of a choosing run's first batches
WARMUP = 2  # of those, the first ones only warm up
_DROPOUT_RATE = re.compile(r"(Dropout\w*\(p=)[^,)]*")  # a rate changes no step's time


def architecture_key(
    model: nn.Module, shape: tuple[int, ...], precision: Precision, train: bool
) -> str:
    """What the timing depends on: the layers (their repr lists every shape; dropout rates
    left out), the shape of an image (not the batch: the layouts are compared per image),
    precision and whether the step trains."""
    layers = _DROPOUT_RATE.sub(r"\1*", repr(model))
    text = "|".join([layers, str(tuple(shape[1:])), precision.name, str(train)])
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
    """Keep what a run measured itself (`LayoutChoice`: its first batches in both layouts)
    as if probed; returns whether channels_last pays."""
    precision.measurements().put(architecture_key(model, shape, precision, train), seconds)
    return pays(seconds)


def channels_last_pays(
    model: nn.Module, shape: tuple[int, ...], precision: Precision, *, train: bool = True
) -> bool:
    """True when `model` steps measurably faster on channels_last inputs of `shape`, timed
    by a separate probe (extra steps on copies) unless known; fit() chooses on its own
    batches instead (`LayoutChoice`)."""
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


def to_layout(model: nn.Module, channels_last: bool) -> torch.memory_format:
    """`model`'s 4-d weights (and their gradients) in the layout, in place: the parameters
    stay the same objects, so an optimizer built on them keeps working."""
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model.to(memory_format=fmt)
    return fmt


class LayoutChoice:
    """The layout chosen on a run's own first batches instead of a separate probe.

    Its first batches run in turn contiguous and channels_last (TRYING), the model switched
    to match; the first of each only warms up, the next is timed until the following batch is
    asked for (its whole step), and the rest run in the faster one: MARGIN decides, as for a
    probe. No batch runs twice. A layout `known` from before is taken instead of the timing,
    the same first batches still running in turn, so a run's numbers never depend on whether
    the choice was cached. The choice holds across the epochs fed through `batches`.
    """

    def __init__(self, known: bool | None = None) -> None:
        self.known = known
        self.seconds: dict[str, float] = {}  # per image, of the timed batches
        self.steps = 0
        self.channels_last: bool | None = None  # None until chosen

    @property
    def current(self) -> bool:
        """The layout the model is in now."""
        if self.channels_last is not None:
            return self.channels_last
        return TRYING[self.steps - 1] if self.steps else False

    @property
    def measured(self) -> bool:
        """The choice was timed here (not known before): worth keeping."""
        return self.known is None and {"contiguous", "channels_last"} <= self.seconds.keys()

    def decide(self) -> bool:
        """The choice: known, else timed, else (too few batches to time) contiguous."""
        if self.known is not None:
            return self.known
        return pays(self.seconds) if self.measured else False

    def batches(
        self, batches: Iterable, model: nn.Module, device: torch.device
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """`batches` (x, y) with x in the layout of its turn, `model` switched to match."""
        for x, y in batches:
            if self.channels_last is not None:
                fmt = torch.channels_last if self.channels_last else torch.contiguous_format
                yield x.contiguous(memory_format=fmt), y
                continue
            layout = TRYING[self.steps]
            x = x.contiguous(memory_format=to_layout(model, layout))
            measure.sync(device)
            start = time.perf_counter()
            yield x, y
            measure.sync(device)
            if self.steps >= WARMUP:
                name = "channels_last" if layout else "contiguous"
                self.seconds[name] = (time.perf_counter() - start) / len(x)
            self.steps += 1
            if self.steps == len(TRYING):
                self.channels_last = self.decide()
                to_layout(model, self.channels_last)
