"""Out of device memory in a trial: one line saying so, and the memory given back, so that the
study goes on with its next trial (a model too big for the card is a failed trial, never a
score and never the end of the search)."""

from __future__ import annotations

import gc
import re

import torch

from automl.errors import AutoMLError

_ASKED = re.compile(r"[Tt]ried to allocate ([\d.]+ ?[KMGT]?i?B)")


class TrialOutOfMemory(AutoMLError, torch.OutOfMemoryError):
    """A trial ran out of device memory. A torch OutOfMemoryError (the workers catch those and
    go on) whose message is one line saying what to change; an AutoMLError, so the command
    line shows that line and no traceback."""

    @classmethod
    def of(cls, exc: BaseException, device: torch.device) -> TrialOutOfMemory:
        """torch's message cut after what it tried to allocate (its long tail is about the
        allocator), with how much the device holds and what to change."""
        text = " ".join(str(exc).split())
        asked = _ASKED.search(text)
        said = text[: asked.end()] if asked else text.split(". ")[0].rstrip(".")
        held = ""
        if device.type == "cuda":
            total = torch.cuda.get_device_properties(device).total_memory
            held = f" ({device} holds {total / 2**30:.1f} GiB)"
        return cls(
            f"{said or 'out of memory'}{held}: a smaller model, batch_size or resolution may fit"
        )

    @property
    def reason(self) -> str:
        """What the trial records as its `fail_reason`, as for any other failure."""
        return f"OutOfMemoryError: {self.cli_message}"


def release_memory(device: torch.device) -> None:
    """Give a failed trial's memory back: its tensors are collected (the optimizer and
    scheduler hold cycles), and on CUDA the cached blocks go back to the driver, for the next
    trial and for other processes on the same card."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
