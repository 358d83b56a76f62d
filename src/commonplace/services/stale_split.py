"""A sweep's stale pairs of one note split into batches: what `review-sweep`
plans, worked out once per list of stale gates (the selector shares one list
between the notes with nothing reviewed, so 10,000 such notes cost a few
splits, not 400,000 steps)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from commonplace.services.selector import StaleGate, StaleReason


class StaleSplit(NamedTuple):
    gates: Sequence[StaleGate]
    """Held, so that its id names no other list while the entry lives."""
    skipped: list[tuple[str, str]]  # (gate id, why)
    reasons: Counter[str]
    lenses: list[tuple[str, tuple[str, ...]]]  # (lens, gate ids) per batch


def split_stale(
    gates: Sequence[StaleGate], unreviewable: Mapping[StaleReason, str], by_lens: bool
) -> StaleSplit:
    """One note's stale gates as batches (one per lens, or one), the pairs
    that cannot be reviewed and the stale reasons counted."""
    skipped: list[tuple[str, str]] = []
    reasons: Counter[str] = Counter()
    lenses: dict[str, list[str]] = {}
    for gate in gates:
        if gate.reason in unreviewable:
            skipped.append((gate.gate_id, unreviewable[gate.reason]))
            continue
        reasons[gate.reason.value] += 1
        lens = gate.gate_id.rsplit("/", 1)[0] if by_lens else ""
        lenses.setdefault(lens, []).append(gate.gate_id)
    return StaleSplit(gates, skipped, reasons, [(k, tuple(v)) for k, v in lenses.items()])
