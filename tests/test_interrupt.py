import gc
import os
import signal
import time
import weakref

import pytest

from automl.interrupt import Interrupted, raise_if_interrupted, stop_signals_interrupt


class _Thing:
    pass


def test_a_signal_lost_in_a_garbage_collector_callback_is_raised_again(capsys):
    # the signal lands while a weakref callback runs (SQLAlchemy has such callbacks): Python
    # reports the exception raised there as unraisable and goes on
    def callback(ref):
        os.kill(os.getpid(), signal.SIGTERM)  # delivered before the callback returns

    with stop_signals_interrupt():
        thing = _Thing()
        ref = weakref.ref(thing, callback)
        del thing
        gc.collect()
        assert ref() is None  # the callback ran, and its Interrupted was swallowed
        with pytest.raises(Interrupted) as raised:
            raise_if_interrupted()
    assert raised.value.signum == signal.SIGTERM
    assert "Traceback" not in capsys.readouterr().err  # the lost one is not reported
    raise_if_interrupted()  # outside, nothing is pending


def test_ctrl_c_raises_interrupted_with_its_signal():
    with pytest.raises(Interrupted) as raised, stop_signals_interrupt():
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):  # the handler runs between bytecodes
            pass
    assert raised.value.signum == signal.SIGINT
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_signal_in_a_database_call_is_raised_once_the_call_returns():
    # raised inside SQLAlchemy, it could leave a connection mid-transaction (interrupt.py)
    namespace = {"__name__": "sqlalchemy.engine.stand_in"}
    exec(compile("def call(work):\n    return work()\n", "<stand-in>", "exec"), namespace)
    finished = []

    def work():
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):  # the handler runs here, and waits
            pass
        time.sleep(0.1)  # the timer looks again in here: still inside
        finished.append(True)

    with pytest.raises(Interrupted) as raised, stop_signals_interrupt():
        namespace["call"](work)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # raised within a timer period of returning
            time.sleep(0.001)
        pytest.fail("the signal was never raised")
    assert finished == [True]  # not raised inside the call
    assert raised.value.signum == signal.SIGTERM
    assert signal.getsignal(signal.SIGALRM) is signal.SIG_DFL
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
