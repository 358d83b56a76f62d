"""What a sweep tells its caller while it runs, and how the caller stops it.

The library never writes to stdout or stderr and never installs signal
handlers: a sweep hands each batch's live text and its progress to the
callbacks of `SweepEvents`, and polls a `StopRequest` the caller sets (the
command line sets it from its Ctrl-C and SIGTERM handlers).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@runtime_checkable
class LiveText(Protocol):
    """Where one batch's live runner text goes, piece by piece; `flush` is
    called after each runner call, so a last partial line is not held back."""

    def __call__(self, text: str) -> None: ...

    def flush(self) -> None: ...


@dataclass(frozen=True)
class SweepProgress:
    """After each finished batch, and once more at the end (`final`)."""

    done: int  # batches finished
    total: int  # batches planned
    completed: int  # runs completed so far
    failed: int  # runs failed so far
    final: bool = False


class StopRequest:
    """Set by the caller to stop launching batches and stop those running
    (as Ctrl-C does); the sweep polls it at safe points.

    While `deferring` is true the sweep's workers are running and a signal
    handler should only `set` this: an exception raised inside
    `concurrent.futures.wait` could leave a future's lock held and the
    workers unable to finish. Otherwise the handler may raise as usual."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.deferring = False

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    @contextmanager
    def deferred(self) -> Iterator[None]:
        self.deferring = True
        try:
            yield
        finally:
            self.deferring = False


@dataclass(frozen=True)
class SweepEvents:
    """The caller's side of a sweep; every part optional."""

    live_text: Callable[[int], LiveText] | None = None  # batch id -> its live text
    progress: Callable[[SweepProgress], None] | None = None
    stop: StopRequest | None = None
