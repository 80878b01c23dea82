"""Decoding progress, for whoever shows it: the library reports, the edge decides how.

`decode_folder` calls `report(what, done, total)` as images decode; nothing happens unless a
caller (the CLI's search, worker and finalize) installed a hook with `reporting_to(hook)`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar

Hook = Callable[[str, int, int], None]  # (what is decoded, images done, images in all)

_hook: ContextVar[Hook | None] = ContextVar("automl_decode_progress", default=None)


@contextlib.contextmanager
def reporting_to(hook: Hook | None) -> Iterator[None]:
    token = _hook.set(hook)
    try:
        yield
    finally:
        _hook.reset(token)


def report(what: str, done: int, total: int) -> None:
    hook = _hook.get()
    if hook is not None:
        hook(what, done, total)
