"""The command line's Ctrl-C and SIGTERM handling (`cli.signals`): raise as
Ctrl-C outside a sweep's workers, only set the stop request inside, and give
the previous handlers back afterwards."""

from __future__ import annotations

import os
import signal

import pytest

from commonplace.cli.signals import stop_on_signals


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_outside_the_workers_is_an_interrupt(signum: signal.Signals) -> None:
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), stop_on_signals() as stop:
        os.kill(os.getpid(), signum)  # the handler runs before the next bytecode
        raise AssertionError("the signal did not interrupt")
    assert not stop.is_set()
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_while_the_workers_run_only_sets_the_stop(signum: signal.Signals) -> None:
    with stop_on_signals() as stop:
        with stop.deferred():
            os.kill(os.getpid(), signum)
        assert stop.is_set()
