"""Adaptive concurrency for API runners: while the provider pushes back (429,
overload), fewer requests are in flight at once, and the limit grows back
slowly once answers come through again.

One `AdaptiveLimit` belongs to one adapter, which every batch of a command
shares: the launcher still starts `--jobs` batches, their requests wait here
for a slot.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime

GROW_AFTER = 3  # successes in a row before one more request may be in flight
WAIT_STEP = 0.05
BACKOFF_FIRST = 1.0  # seconds before the first retry when the server names no time
BACKOFF_MAX = 60.0


class AdaptiveLimit:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.limit: int | None = None  # None: no limit (the launcher's jobs bound it)
        self.in_flight = 0
        self.peak = 0
        self.pushbacks = 0
        self._successes = 0

    def acquire(self, stop: Callable[[], bool]) -> bool:
        """Wait for a slot; False when `stop()` said stop first."""
        with self._cond:
            while self.limit is not None and self.in_flight >= self.limit:
                if stop():
                    return False
                self._cond.wait(WAIT_STEP)
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            return True

    def release(self) -> None:
        with self._cond:
            self.in_flight -= 1
            self._cond.notify_all()

    def pushed_back(self) -> int:
        """The provider said slow down: halve what may be in flight."""
        with self._cond:
            current = self.limit if self.limit is not None else max(self.in_flight, 1)
            self.limit = max(1, current // 2)
            self.pushbacks += 1
            self._successes = 0
            return self.limit

    def succeeded(self) -> None:
        with self._cond:
            if self.limit is None:
                return
            self._successes += 1
            if self._successes >= GROW_AFTER:
                self._successes = 0
                self.limit += 1
                if self.limit > self.peak:
                    self.limit = None  # back to what the launcher allows
                self._cond.notify_all()


def sleep_unless(seconds: float, stop: Callable[[], bool]) -> bool:
    """Sleep, waking early when `stop()`; False when it did."""
    end = time.monotonic() + seconds
    while True:
        if stop():
            return False
        left = end - time.monotonic()
        if left <= 0:
            return True
        time.sleep(min(WAIT_STEP, left))


def retry_after(headers: Mapping[str, str]) -> float | None:
    """The server's wait in seconds: `retry-after-ms`, `retry-after` as
    seconds or as an HTTP date. Absurd values are not honoured."""
    try:
        if "retry-after-ms" in headers:
            value = float(headers["retry-after-ms"]) / 1000
        elif "retry-after" in headers:
            raw = headers["retry-after"].strip()
            try:
                value = float(raw)
            except ValueError:
                value = parsedate_to_datetime(raw).timestamp() - time.time()
        else:
            return None
    except (TypeError, ValueError, OverflowError):
        return None
    return value if 0 <= value <= 3600 else None


def backoff(attempt: int) -> float:
    base = min(BACKOFF_FIRST * 2**attempt, BACKOFF_MAX)
    return float(base * (0.75 + random.random() / 2))  # jitter, not a secret
