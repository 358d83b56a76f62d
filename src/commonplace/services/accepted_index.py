"""What a partition has accepted of each note, in brief, without reading the
whole acceptance log on every selection.

A note is *settled* when the latest acceptance of each of its applicable
gates judged the note as it is now and the gate as it is now, and no other
gate has one. That needs only a summary per note: the one note version its
latest acceptances judged (None when they judged several) and the set of
(gate, gate version) they judged. Summaries are kept between runs in the
local cache with the store's mark of the note (store/acceptance_marks.py)
they were derived from; a summary is used only while the mark is the same,
and the marks are read before the acceptances, so a summary is never older
than its mark. On a KB where little changes, a selection reads 10,000 marks
and the acceptances of the few notes that moved, not 400,000 rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

from commonplace import local_cache
from commonplace.store import acceptance_marks, acceptances
from commonplace.store.connection import Store

KIND = "accepted-index/2"
# Above this share of notes to read again, one pass over the partition's
# whole log costs less than looking the notes up.
_WHOLE_LOG_SHARE = 0.25

Versions = dict[str, tuple[str, str]]  # gate id -> (accepted note SHA, accepted gate SHA)
GateSet = tuple[str, ...]  # gate id, gate SHA, gate id, gate SHA, ... by gate id


class Summary(NamedTuple):
    note_sha: str | None  # the one note version judged; None when several
    gates: GateSet


class AcceptedIndex(NamedTuple):
    """Summaries of the notes asked about that have acceptances, column by
    column (the selector asks 10,000 times; a set of gates is a number), and
    the full versions of the notes whose summary had to be read again."""

    note_shas: dict[str, str | None]
    gate_sets: dict[str, int]  # note -> its number in `sets`
    sets: dict[GateSet, int]
    read: dict[str, Versions]

    @property
    def summaries(self) -> dict[str, Summary]:
        by_number = {n: s for s, n in self.sets.items()}
        return {p: Summary(self.note_shas[p], by_number[n]) for p, n in self.gate_sets.items()}

    def set_number(self, gates: GateSet) -> int | None:
        """The number `settled` compares, or None when no note has these gates."""
        return self.sets.get(gates)

    def settled(self, note_path: str, note_sha: str, set_number: int | None) -> bool:
        return (
            set_number is not None
            and self.gate_sets.get(note_path) == set_number
            and self.note_shas.get(note_path) == note_sha
        )

    def versions(
        self, store: Store, model_id: str, note_paths: Iterable[str]
    ) -> dict[str, Versions]:
        """The latest accepted versions per gate of these notes (those with
        any), reading from the store only what was not read already."""
        wanted = [p for p in note_paths if p in self.gate_sets]
        out = {p: self.read[p] for p in wanted if p in self.read}
        missing = [p for p in wanted if p not in self.read]
        if missing:
            with store.read() as conn:
                out.update(grouped(acceptances.latest_accepted(conn, model_id, missing)))
        return {p: v for p, v in out.items() if v}


def gate_set(pairs: Iterable[tuple[str, str]]) -> GateSet:
    """The flat, ordered form of (gate id, gate SHA) pairs that summaries use."""
    return tuple(x for pair in sorted(pairs) for x in pair)


def summarize(versions: Versions) -> Summary:
    note_shas = {note_sha for note_sha, _ in versions.values()}
    only = next(iter(note_shas)) if len(note_shas) == 1 else None
    return Summary(only, gate_set((gate, sha) for gate, (_, sha) in versions.items()))


def accepted_index(
    store: Store, model_id: str, note_paths: Collection[str], cache: Path | None
) -> AcceptedIndex:
    """Summaries of `note_paths` in the partition, from the cache where the
    store's marks allow, else from the store (and the cache brought up to date)."""
    with store.read() as conn:
        marks = acceptance_marks.marks(conn, model_id)  # first: see the module docstring
    name = _cache_name(store, model_id)
    kept = _load(cache, name, marks)
    asked = [p for p in note_paths if p in marks]
    stale = [p for p in asked if p not in kept.gate_sets]
    if stale:
        with store.read() as conn:
            if len(stale) > _WHOLE_LOG_SHARE * max(len(marks), 1):
                kept.read.update(acceptances.latest_by_note(conn, model_id))
            else:
                kept.read.update(grouped(acceptances.latest_accepted(conn, model_id, stale)))
        # a whole log read gives every note's summary for the price of one
        for path in marks if len(kept.read) > len(stale) else stale:
            only, gates = summarize(kept.read.get(path, {}))
            kept.note_shas[path] = only
            kept.gate_sets[path] = kept.sets.setdefault(gates, len(kept.sets))
        _save(cache, name, marks, kept)
    if len(asked) < len(kept.gate_sets):
        return kept._replace(
            note_shas={p: kept.note_shas[p] for p in asked},
            gate_sets={p: kept.gate_sets[p] for p in asked},
        )
    return kept


def accepted_versions(
    store: Store, model_id: str, note_paths: Collection[str]
) -> dict[str, Versions]:
    """The latest accepted versions per gate of these notes, in one query."""
    with store.read() as conn:
        return grouped(acceptances.latest_accepted(conn, model_id, list(note_paths)))


def grouped(pairs: Mapping[tuple[str, str], tuple[str, str]]) -> dict[str, Versions]:
    out: dict[str, Versions] = {}
    for (note_path, gate_id), shas in pairs.items():
        out.setdefault(note_path, {})[gate_id] = shas
    return out


def _cache_name(store: Store, model_id: str) -> str:
    key = f"{store.kind}\0{store.name}\0{model_id}".encode("utf-8", "surrogateescape")
    return f"accepted-{hashlib.sha256(key).hexdigest()[:24]}.json"


def _load(cache: Path | None, name: str, marks: dict[str, int]) -> AcceptedIndex:
    """The cached summaries whose mark is still the store's. Checked column
    by column (in C, not note by note): anything malformed drops the whole
    file, never trusted. When no mark moved, which is the usual case, the
    marks compare equal at once."""
    empty = AcceptedIndex({}, {}, {}, {})
    payload = local_cache.load(cache, name, KIND)
    if not isinstance(payload, dict):
        return empty
    kept_marks, note_shas = payload.get("marks"), payload.get("note_shas")
    gate_sets, sets = payload.get("gate_sets"), payload.get("sets")
    if not (
        isinstance(kept_marks, dict)
        and isinstance(note_shas, dict)
        and isinstance(gate_sets, dict)
        and isinstance(sets, list)
        and kept_marks.keys() == note_shas.keys() == gate_sets.keys()
        and set(map(type, kept_marks.values())) <= {int}
        and set(map(type, note_shas.values())) <= {str, type(None)}
        and set(map(type, gate_sets.values())) <= {int}
        and all(type(s) is list and set(map(type, s)) <= {str} for s in sets)
        and all(0 <= n < len(sets) for n in set(gate_sets.values()))
    ):
        return empty
    numbered = {tuple(s): n for n, s in enumerate(sets)}
    if len(numbered) != len(sets):
        return empty  # one set under two numbers: not a file this module wrote
    if kept_marks != marks:
        moved = {p for p, m in kept_marks.items() if marks.get(p) != m}
        note_shas = {p: v for p, v in note_shas.items() if p not in moved}
        gate_sets = {p: v for p, v in gate_sets.items() if p not in moved}
    return AcceptedIndex(note_shas, gate_sets, numbered, {})


def _save(cache: Path | None, name: str, marks: dict[str, int], kept: AcceptedIndex) -> None:
    """Summaries by note with their marks, column by column; each set of
    gates, which few notes do not share, written once."""
    if cache is None:
        return
    paths = [p for p in kept.gate_sets if p in marks]
    by_number = {n: s for s, n in kept.sets.items()}
    renumbered: dict[int, int] = {}  # sets no note has any more are left out
    for path in paths:
        renumbered.setdefault(kept.gate_sets[path], len(renumbered))
    payload = {
        "marks": {p: marks[p] for p in paths},
        "note_shas": {p: kept.note_shas[p] for p in paths},
        "gate_sets": {p: renumbered[kept.gate_sets[p]] for p in paths},
        "sets": [list(by_number[n]) for n in renumbered],
    }
    local_cache.save(cache, name, KIND, payload)
