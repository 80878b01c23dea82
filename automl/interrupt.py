"""Stop signals as Ctrl-C: SIGTERM and SIGHUP (a `kill`, a closed terminal) raise
`Interrupted`, a KeyboardInterrupt that remembers the signal, so whatever cleans up after
Ctrl-C (a trial recorded as failed, workers and servers stopped) runs for them too.

A signal that lands while the garbage collector runs a callback (SQLAlchemy has weakref
ones) raises there, and Python reports that exception as unraisable and goes on: the
interrupt is lost. So a signal is also remembered, and `raise_if_interrupted()`, called
between batches, raises it again (the lost one is not reported: it is not an error).

A signal that lands inside a database call (SQLAlchemy, a driver, Optuna's storages) is
raised once the call returns: raised in there, it can leave the connection mid-transaction,
and Optuna's own bookkeeping of the interrupted trial then fails on it ("Should not reach")
instead of recording the trial as failed. A timer (SIGALRM) looks again every 20 ms."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator


class Interrupted(KeyboardInterrupt):
    def __init__(self, signum: int = signal.SIGINT, detail: str = "", advice: str = "") -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.detail = detail  # what had been done when it came, for the one line the CLI prints
        self.advice = advice  # what to do next, where the command's usual advice does not hold

    @classmethod
    def of(cls, exc: KeyboardInterrupt, detail: str, advice: str = "") -> Interrupted:
        return cls(getattr(exc, "signum", signal.SIGINT), detail, advice)


_pending: list[int] = []  # the signals received inside stop_signals_interrupt, not yet acted on
DATABASE = ("sqlalchemy", "optuna.storages", "psycopg", "sqlite3")  # modules: wait till out
LOOK_AGAIN_SECONDS = 0.02


def _in_database(frame) -> bool:
    while frame is not None:
        if frame.f_globals.get("__name__", "").startswith(DATABASE):
            return True
        frame = frame.f_back
    return False


def raise_if_interrupted() -> None:
    """Raise Interrupted for a stop signal whose first raise was swallowed (see above)."""
    if _pending:
        raise Interrupted(_pending[-1])


def exit_code(exc: KeyboardInterrupt) -> int:
    """The shell's convention: 128 + the signal (130 for Ctrl-C, 143 for SIGTERM)."""
    return 128 + getattr(exc, "signum", signal.SIGINT)


@contextlib.contextmanager
def stop_signals_interrupt() -> Iterator[None]:
    """While inside, SIGINT, SIGTERM and SIGHUP raise Interrupted, and are remembered for
    raise_if_interrupted (main thread only; elsewhere, on platforms without them and where
    one is ignored, nothing changes); the previous handlers come back after."""
    names = ("SIGINT", "SIGTERM", "SIGHUP")
    signals = [getattr(signal, n) for n in names if hasattr(signal, n)]
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        _pending.append(signum)
        raise_unless_in_database(frame)

    def raise_unless_in_database(frame):
        if _in_database(frame):
            signal.setitimer(signal.ITIMER_REAL, LOOK_AGAIN_SECONDS)  # then look_again
            return
        raise Interrupted(_pending[-1])

    def look_again(signum, frame):
        if _pending:
            raise_unless_in_database(frame)

    # a signal set to be ignored (`nohup` ignores SIGHUP) stays ignored
    signals = [sig for sig in signals if signal.getsignal(sig) is not signal.SIG_IGN]
    report = sys.unraisablehook

    def unraisable(what) -> None:
        if not isinstance(what.exc_value, Interrupted):  # ours is raised again, not reported
            report(what)

    before = {sig: signal.signal(sig, interrupt) for sig in signals}
    if signals and hasattr(signal, "setitimer"):
        before[signal.SIGALRM] = signal.signal(signal.SIGALRM, look_again)
    _pending.clear()
    sys.unraisablehook = unraisable
    try:
        yield
    finally:
        sys.unraisablehook = report
        _pending.clear()
        if signal.SIGALRM in before:
            signal.setitimer(signal.ITIMER_REAL, 0)
        for sig, handler in before.items():
            signal.signal(sig, handler)
