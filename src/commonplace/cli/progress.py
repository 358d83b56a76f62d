"""How a sweep looks on stderr: each batch's live runner text, whole lines
prefixed with the batch, and a progress bar when stderr is a terminal."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import TextIO

TYPE_CHECKING = False
if TYPE_CHECKING:
    from commonplace.services.events import SweepProgress

BAR_WIDTH = 24


class LinePrinter:
    """Prints a runner's live text, whole lines, each prefixed with its
    batch; printers sharing a lock never mix their lines."""

    def __init__(
        self, prefix: str, stream: TextIO | None = None, lock: threading.Lock | None = None
    ) -> None:
        self.prefix = prefix
        self.stream = stream if stream is not None else sys.stderr
        self._lock = lock or threading.Lock()
        self.pending = ""

    def __call__(self, text: str) -> None:
        lines = (self.pending + text).split("\n")
        self.pending = lines.pop()
        if lines:
            with self._lock:
                self.stream.write("".join(f"{self.prefix}{line}\n" for line in lines))
                self.stream.flush()

    def flush(self) -> None:
        if self.pending:
            self("\n")


def batch_printers(stream: TextIO) -> Callable[[int], LinePrinter]:
    """One `LinePrinter` per batch, all sharing one lock (concurrent batches)."""
    lock = threading.Lock()

    def printer(batch_id: int) -> LinePrinter:
        return LinePrinter(f"[batch {batch_id}] ", stream, lock)

    return printer


def progress_bar(stream: TextIO) -> Callable[[SweepProgress], None]:
    """A bar redrawn in place after each batch; the final one ends the line."""

    def draw(progress: SweepProgress) -> None:
        filled = BAR_WIDTH * progress.done // max(progress.total, 1)
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        stream.write(
            f"\r[{bar}] {progress.done}/{progress.total} batches,"
            f" {progress.completed} completed, {progress.failed} failed"
            + ("\n" if progress.final else "")
        )
        stream.flush()

    return draw
