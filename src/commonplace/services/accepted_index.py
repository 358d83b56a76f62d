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

KIND = "accepted-index/1"
# Above this share of notes to read again, one pass over the partition's
# whole log costs less than looking the notes up.
_WHOLE_LOG_SHARE = 0.25

Versions = dict[str, tuple[str, str]]  # gate id -> (accepted note SHA, accepted gate SHA)
GateSet = tuple[str, ...]  # gate id, gate SHA, gate id, gate SHA, ... by gate id


class Summary(NamedTuple):
    note_sha: str | None  # the one note version judged; None when several
    gates: GateSet


class AcceptedIndex(NamedTuple):
    """Summaries of the notes asked about that have acceptances, and the full
    versions of those whose summary had to be read again."""

    summaries: dict[str, Summary]
    read: dict[str, Versions]

    def settled(self, note_path: str, note_sha: str, gates: GateSet) -> bool:
        found = self.summaries.get(note_path)
        return found is not None and found.note_sha == note_sha and found.gates == gates

    def versions(
        self, store: Store, model_id: str, note_paths: Iterable[str]
    ) -> dict[str, Versions]:
        """The latest accepted versions per gate of these notes (those with
        any), reading from the store only what was not read already."""
        wanted = [p for p in note_paths if p in self.summaries]
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
    stale = [p for p in asked if p not in kept]
    read: dict[str, Versions] = {}
    if stale:
        with store.read() as conn:
            if len(stale) > _WHOLE_LOG_SHARE * max(len(marks), 1):
                read = acceptances.latest_by_note(conn, model_id)
            else:
                read = grouped(acceptances.latest_accepted(conn, model_id, stale))
        # a whole log read gives every note's summary for the price of one
        for path in marks if len(read) > len(stale) else stale:
            kept[path] = summarize(read.get(path, {}))
        _save(cache, name, marks, kept)
    return AcceptedIndex({p: kept[p] for p in asked}, read)


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


def _load(cache: Path | None, name: str, marks: Mapping[str, int]) -> dict[str, Summary]:
    """The cached summaries whose mark is still the store's; anything
    malformed is dropped, never trusted."""
    payload = local_cache.load(cache, name, KIND)
    if not isinstance(payload, dict):
        return {}
    sets, notes = payload.get("sets"), payload.get("notes")
    if not isinstance(sets, list) or not isinstance(notes, dict):
        return {}
    shapes = [
        tuple(s) if isinstance(s, list) and all(isinstance(x, str) for x in s) else None
        for s in sets
    ]
    kept: dict[str, Summary] = {}
    for path, entry in notes.items():
        if not (isinstance(entry, list) and len(entry) == 3):
            continue
        mark, note_sha, index = entry
        if type(mark) is not int or marks.get(path) != mark:
            continue
        if not (note_sha is None or isinstance(note_sha, str)):
            continue
        if type(index) is not int or not 0 <= index < len(shapes):
            continue
        gates = shapes[index]
        if gates is not None:
            kept[path] = Summary(note_sha, gates)
    return kept


def _save(
    cache: Path | None, name: str, marks: Mapping[str, int], kept: Mapping[str, Summary]
) -> None:
    """Summaries by note with their marks; the sets of gates, which few notes
    do not share, are written once each."""
    if cache is None:
        return
    index: dict[GateSet, int] = {}
    notes = {
        path: [marks[path], summary.note_sha, index.setdefault(summary.gates, len(index))]
        for path, summary in kept.items()
        if path in marks
    }
    local_cache.save(cache, name, KIND, {"sets": [list(s) for s in index], "notes": notes})
