"""For commands that build hundreds of thousands of objects and keep them
(a 10,000-note KB's stale pairs and batches)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collecting_rarely() -> Iterator[None]:
    """Python's cycle collector, run far less often within the block. By
    default it walks every tracked object again each time some hundred
    thousand are made, which is most of what a large dry run spends; these
    commands make no cycles worth collecting early. Restored afterwards, for
    a caller that goes on in the same process (the tests)."""
    import gc

    thresholds = gc.get_threshold()
    gc.freeze()  # what is loaded already (modules, settings) is never garbage
    gc.set_threshold(100_000, 50, 1_000)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
