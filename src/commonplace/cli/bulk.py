"""For commands that build hundreds of thousands of objects and keep them
(a 10,000-note KB's stale pairs and batches)."""

from __future__ import annotations


def collect_rarely() -> None:
    """Let Python's cycle collector run far less often. By default it walks
    every tracked object again each time a few hundred thousand are made,
    which is most of the time a large dry run takes; these commands make no
    cycles worth collecting early, and exit soon."""
    import gc

    gc.freeze()  # what is loaded already (modules, settings) is never garbage
    gc.set_threshold(100_000, 50, 1_000)
