"""Stop signals as Ctrl-C: SIGTERM and SIGHUP (a `kill`, a closed terminal) raise
`Interrupted`, a KeyboardInterrupt that remembers the signal, so whatever cleans up after
Ctrl-C (a trial recorded as failed, workers and servers stopped) runs for them too."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


class Interrupted(KeyboardInterrupt):
    def __init__(self, signum: int = signal.SIGINT, detail: str = "") -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.detail = detail  # what had been done when it came, for the one line the CLI prints

    @classmethod
    def of(cls, exc: KeyboardInterrupt, detail: str) -> Interrupted:
        return cls(getattr(exc, "signum", signal.SIGINT), detail)


def exit_code(exc: KeyboardInterrupt) -> int:
    """The shell's convention: 128 + the signal (130 for Ctrl-C, 143 for SIGTERM)."""
    return 128 + getattr(exc, "signum", signal.SIGINT)


@contextlib.contextmanager
def stop_signals_interrupt() -> Iterator[None]:
    """While inside, SIGTERM and SIGHUP raise Interrupted (main thread only; elsewhere, on
    platforms without them and where one is ignored, nothing changes); the previous handlers
    come back after."""
    names = ("SIGTERM", "SIGHUP")
    signals = [getattr(signal, n) for n in names if hasattr(signal, n)]
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise Interrupted(signum)

    # a signal set to be ignored (`nohup` ignores SIGHUP) stays ignored
    signals = [sig for sig in signals if signal.getsignal(sig) is not signal.SIG_IGN]
    before = {sig: signal.signal(sig, interrupt) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
