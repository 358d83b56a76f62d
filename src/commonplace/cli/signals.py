"""Ctrl-C and SIGTERM while a command that runs reviewers works.

Both end the command like Ctrl-C (exit 130; runner processes are stopped and
their runs failed, never left behind). While a sweep's workers run, the
handler only sets the sweep's `StopRequest`, which the sweep polls and then
raises at a safe point."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from commonplace.services.events import StopRequest


@contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    """Handlers for SIGINT and SIGTERM for the block; the previous ones are
    put back after it."""
    stop = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop  # only the main thread may set handlers
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        if stop.deferring:
            stop.set()
        else:
            raise KeyboardInterrupt

    previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
