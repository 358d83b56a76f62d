"""Agreement between partitions and firing rates, from the reviews already
stored (issue 18; docs/gate-quality.md).

What is compared: per (note, gate, partition), the review the partition's
current acceptance rests on (`store.verdicts.accepted_verdicts`). Two
partitions' reviews of a pair count as shared only when both saw the same
note SHA and the same gate SHA, so a difference is never a difference of
input. `error` and `unknown` are never accepted, so they are left out: the
categories are `pass`, `warn` and `fail`.

Per gate and pair of partitions: the shared pairs, the observed agreement
(share of shared pairs with equal decisions) and Cohen's kappa, and the pairs
they disagree on (the first `cap`, by note). Per gate and partition: the
firing rate, the share of its reviewed pairs decided `warn` or `fail`
(stale pairs count with their last accepted review, as in the reports); with
at least `MIN_REVIEWED` reviewed pairs, a gate that never fires or always
fires is flagged.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from itertools import combinations

from commonplace.store.connection import Store
from commonplace.store.verdicts import Verdict, accepted_verdicts

CATEGORIES = ("pass", "warn", "fail")
FIRES = frozenset({"warn", "fail"})
MIN_REVIEWED = 10  # below this a rate of 0 or 1 says little: no flag
DISAGREEMENTS_CAP = 20  # per gate and pair of partitions
NEVER_FIRES = "never-fires"
ALWAYS_FIRES = "always-fires"


@dataclass(frozen=True)
class Firing:
    """How often a gate fires in one partition."""

    gate_id: str
    model_id: str
    reviewed: int
    warns: int
    fails: int

    @property
    def rate(self) -> float:
        return (self.warns + self.fails) / self.reviewed if self.reviewed else 0.0

    @property
    def flag(self) -> str | None:
        if self.reviewed < MIN_REVIEWED:
            return None
        fired = self.warns + self.fails
        return NEVER_FIRES if fired == 0 else ALWAYS_FIRES if fired == self.reviewed else None

    def as_dict(self) -> dict[str, object]:
        return {
            "model_id": self.model_id,
            "reviewed": self.reviewed,
            "warn": self.warns,
            "fail": self.fails,
            "firing_rate": round(self.rate, 6),
            "flag": self.flag,
        }


@dataclass(frozen=True)
class Disagreement:
    note_path: str
    decision_a: str
    decision_b: str


@dataclass(frozen=True)
class Agreement:
    """Two partitions on one gate, over the pairs both reviewed on equal
    note and gate versions."""

    gate_id: str
    model_a: str
    model_b: str
    shared: int
    agreed: int
    kappa: float | None
    """None when chance agreement is 1 (both always gave the same one
    decision): kappa is undefined there."""
    confusion: dict[str, dict[str, int]]
    """model_a's decision -> model_b's decision -> pairs."""
    disagreements: tuple[Disagreement, ...] = ()
    """The first `DISAGREEMENTS_CAP` by note."""
    more_disagreements: int = 0

    @property
    def agreement(self) -> float:
        return self.agreed / self.shared if self.shared else 0.0

    def flipped(self) -> Agreement:
        """The same figures seen from model_b."""
        return Agreement(
            self.gate_id,
            self.model_b,
            self.model_a,
            self.shared,
            self.agreed,
            self.kappa,
            {b: {a: row[b] for a, row in self.confusion.items()} for b in CATEGORIES},
            tuple(
                Disagreement(d.note_path, d.decision_b, d.decision_a) for d in self.disagreements
            ),
            self.more_disagreements,
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "model_a": self.model_a,
            "model_b": self.model_b,
            "shared": self.shared,
            "agreed": self.agreed,
            "agreement": round(self.agreement, 6),
            "kappa": None if self.kappa is None else round(self.kappa, 6),
            "confusion": self.confusion,
            "disagreements": [
                {"note_path": d.note_path, "decision_a": d.decision_a, "decision_b": d.decision_b}
                for d in self.disagreements
            ],
            "more_disagreements": self.more_disagreements,
        }


@dataclass(frozen=True)
class GateQuality:
    firing: tuple[Firing, ...] = ()
    """By gate, then partition."""
    agreements: tuple[Agreement, ...] = field(default=())
    """By gate, then pair of partitions (model_a < model_b)."""


def cohen_kappa(pairs: Iterable[tuple[str, str]]) -> float | None:
    """Cohen's kappa of two raters' decisions on the same items; None when
    there are no items or chance agreement is 1."""
    items = list(pairs)
    if not items:
        return None
    n = len(items)
    observed = sum(a == b for a, b in items) / n
    left = Counter(a for a, _ in items)
    right = Counter(b for _, b in items)
    chance = sum(left[c] * right[c] for c in left) / (n * n)
    if chance >= 1.0:
        return None
    return (observed - chance) / (1.0 - chance)


def gate_quality(
    store: Store,
    *,
    note_paths: Collection[str] | None = None,
    gate_ids: Collection[str] | None = None,
    cap: int = DISAGREEMENTS_CAP,
) -> GateQuality:
    """Firing rates and agreement of every gate and partition in the store;
    of these notes and gates only, when given."""
    with store.read() as conn:
        verdicts = accepted_verdicts(conn)
    notes = None if note_paths is None else frozenset(note_paths)
    gates = None if gate_ids is None else frozenset(gate_ids)
    by_gate: dict[str, list[Verdict]] = {}
    for v in verdicts:
        if v.decision not in CATEGORIES:
            continue  # never accepted; kept out should a store hold one anyway
        if (notes is None or v.note_path in notes) and (gates is None or v.gate_id in gates):
            by_gate.setdefault(v.gate_id, []).append(v)
    firing: list[Firing] = []
    agreements: list[Agreement] = []
    for gate_id in sorted(by_gate):
        firing.extend(_firing(gate_id, by_gate[gate_id]))
        agreements.extend(_agreements(gate_id, by_gate[gate_id], cap))
    return GateQuality(tuple(firing), tuple(agreements))


def _firing(gate_id: str, verdicts: list[Verdict]) -> list[Firing]:
    counts: dict[str, Counter[str]] = {}
    for v in verdicts:
        counts.setdefault(v.model_id, Counter())[v.decision] += 1
    return [
        Firing(gate_id, model_id, sum(c.values()), c["warn"], c["fail"])
        for model_id, c in sorted(counts.items())
    ]


def _agreements(gate_id: str, verdicts: list[Verdict], cap: int) -> list[Agreement]:
    # partition -> (note, note SHA, gate SHA) -> decision
    seen: dict[str, dict[tuple[str, str, str], str]] = {}
    for v in verdicts:
        seen.setdefault(v.model_id, {})[(v.note_path, v.note_sha, v.gate_sha)] = v.decision
    found = []
    for model_a, model_b in combinations(sorted(seen), 2):
        a, b = seen[model_a], seen[model_b]
        keys = sorted(a.keys() & b.keys())
        if not keys:
            continue
        decided = [(a[k], b[k]) for k in keys]
        confusion = {x: {y: 0 for y in CATEGORIES} for x in CATEGORIES}
        for x, y in decided:
            confusion[x][y] += 1
        differing = [Disagreement(k[0], a[k], b[k]) for k in keys if a[k] != b[k]]
        found.append(
            Agreement(
                gate_id,
                model_a,
                model_b,
                shared=len(keys),
                agreed=len(keys) - len(differing),
                kappa=cohen_kappa(decided),
                confusion=confusion,
                disagreements=tuple(differing[:cap]),
                more_disagreements=max(0, len(differing) - cap),
            )
        )
    return found
