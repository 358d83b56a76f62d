"""What reviewing cost (SPEC 5, 12): tokens and the cost runners reported,
summed over batches, so that nothing counts twice.

Telemetry is read from `review_batches` only (each run carries a copy of its
batch's). Vendors count differently; here `input` is the input that was not
read from a cache (OpenAI's input includes its cached part, which is taken
out), and `reasoning` is the part of `output` spent reasoning. A batch's
tokens and cost go whole to its partition, its runner and its day; across
gates they are shared out in proportion to the batch's pairs of each gate, so
the gates' shares add up to the total.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TypeGuard

from commonplace.store import telemetry
from commonplace.store.connection import Store

TOKEN_KINDS = ("input", "output", "cache_read", "cache_write", "reasoning")


@dataclass(frozen=True)
class CostLine:
    """One row of the summary: a partition, gate, runner or day."""

    key: str
    batches: int
    tokens: dict[str, float] = field(default_factory=dict)
    cost_usd: float | None = None
    """None when no batch of the row reported a cost."""

    @property
    def total_tokens(self) -> float:
        """Input, output and cache tokens; reasoning is part of output."""
        return sum(v for k, v in self.tokens.items() if k != "reasoning")


@dataclass(frozen=True)
class CostSummary:
    total: CostLine
    by_partition: tuple[CostLine, ...]
    by_gate: tuple[CostLine, ...]
    by_runner: tuple[CostLine, ...]
    by_day: tuple[CostLine, ...]

    def as_dict(self) -> dict[str, object]:
        def line(c: CostLine) -> dict[str, object]:
            return {
                "key": c.key,
                "batches": c.batches,
                "tokens": {k: _round(v) for k, v in c.tokens.items()},
                "cost_usd": None if c.cost_usd is None else round(c.cost_usd, 6),
            }

        return {
            "total": line(self.total),
            "by_partition": [line(c) for c in self.by_partition],
            "by_gate": [line(c) for c in self.by_gate],
            "by_runner": [line(c) for c in self.by_runner],
            "by_day": [line(c) for c in self.by_day],
        }


class _Sum:
    def __init__(self) -> None:
        self.batches = 0
        self.tokens: dict[str, float] = {k: 0.0 for k in TOKEN_KINDS}
        self.cost: float | None = None

    def add(self, tokens: dict[str, float], cost: float | None, share: float = 1.0) -> None:
        self.batches += 1
        for kind in TOKEN_KINDS:
            self.tokens[kind] += tokens.get(kind, 0.0) * share
        if cost is not None:
            self.cost = (self.cost or 0.0) + cost * share

    def line(self, key: str) -> CostLine:
        return CostLine(key, self.batches, dict(self.tokens), self.cost)


def cost_summary(store: Store) -> CostSummary:
    with store.read() as conn:
        batches = telemetry.batches_with_telemetry(conn)
        pairs = telemetry.gate_counts_by_batch(conn)
    total = _Sum()
    groups: dict[str, dict[str, _Sum]] = {
        name: defaultdict(_Sum) for name in ("partition", "gate", "runner", "day")
    }
    for batch in batches:
        tokens, cost = _usage(batch["telemetry_json"])
        total.add(tokens, cost)
        groups["partition"][batch["model_id"] or batch["requested_model_id"]].add(tokens, cost)
        groups["runner"][batch["executor"]].add(tokens, cost)
        groups["day"][batch["day"]].add(tokens, cost)
        counts = pairs.get(batch["id"], {})
        all_pairs = sum(counts.values())
        for gate_id, count in counts.items():
            groups["gate"][gate_id].add(tokens, cost, count / all_pairs)
    return CostSummary(
        total.line("total"),
        *(_lines(groups[name]) for name in ("partition", "gate", "runner", "day")),
    )


def _lines(sums: dict[str, _Sum]) -> tuple[CostLine, ...]:
    return tuple(sums[key].line(key) for key in sorted(sums))


def _usage(telemetry_json: str) -> tuple[dict[str, float], float | None]:
    try:
        telemetry = json.loads(telemetry_json)
    except ValueError:
        return {}, None
    if not isinstance(telemetry, dict):
        return {}, None
    raw = telemetry.get("tokens")
    if not isinstance(raw, dict):
        raw = {}
    tokens = {k: float(v) for k in TOKEN_KINDS if _number(v := raw.get(k))}
    if telemetry.get("input_includes_cache_read") and "input" in tokens:
        # OpenAI counts cached input inside input; here input is what was not cached
        tokens["input"] = max(0.0, tokens["input"] - tokens.get("cache_read", 0.0))
    cost = telemetry.get("cost_usd")
    return tokens, float(cost) if _number(cost) else None


def _number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _round(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(value, 2)
