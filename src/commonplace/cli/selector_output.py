"""The selector's answer, printed: `--json` or plain text.

Hundreds of thousands of pairs are printed from fragments made once: each
(gate, reason) fragment once, each note's path once, and the fragments of a
list of stale gates once per list (the selector shares one list between the
notes with the same applicable gates). The output goes out in large writes,
never held whole.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TextIO

from commonplace.cli import app

TYPE_CHECKING = False
if TYPE_CHECKING:
    from commonplace.kb.unreviewable import Unreviewable
    from commonplace.services.selector import Selection, StaleGate, StaleNote

_WRITE_SIZE = 1 << 20  # characters gathered before each write


class _Chunks:
    """Pieces of output, written once about `_WRITE_SIZE` characters have gathered."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.parts: list[str] = []
        self.size = 0

    def add(self, piece: str) -> None:
        self.parts.append(piece)
        self.size += len(piece)
        if self.size >= _WRITE_SIZE:
            self.flush()

    def flush(self) -> None:
        self.out.write("".join(self.parts))
        self.parts.clear()
        self.size = 0


class _Fragments:
    """The fragment of each stale gate, made by `make` once per (gate, reason)
    and gathered once per list of stale gates. A gate with a diff gets a
    fragment of its own, and its list is not kept: the diffs are the bulk of
    the output, which is never held."""

    def __init__(self, make: Callable[[StaleGate], str]) -> None:
        self.make = make
        self.by_gate: dict[tuple[str, str], str] = {}
        # keyed by id(); the list is kept beside its fragments so that the id stays its own
        self.by_list: dict[int, tuple[Sequence[StaleGate], list[str]]] = {}

    def of(self, gates: Sequence[StaleGate]) -> list[str]:
        found = self.by_list.get(id(gates))
        if found is not None and found[0] is gates:
            return found[1]
        fragments = [self.one(g) for g in gates]
        if all(g.diff is None for g in gates):
            self.by_list[id(gates)] = (gates, fragments)
        return fragments

    def one(self, gate: StaleGate) -> str:
        if gate.diff is not None:
            return self.make(gate)
        key = (gate.gate_id, gate.reason.value)
        fragment = self.by_gate.get(key)
        if fragment is None:
            fragment = self.by_gate[key] = self.make(gate)
        return fragment


def write_json(
    out: TextIO, stale: Sequence[StaleNote], unreviewable: Sequence[Unreviewable]
) -> None:
    """A JSON list: a pair per line, then the notes and gates that cannot be reviewed."""
    last_diff: tuple[str | None, str] = (None, "")  # and its JSON: a note's gates share theirs

    def pair_tail(gate: StaleGate) -> str:
        nonlocal last_diff
        text = f'{json.dumps(gate.gate_id)}, "reason": "{gate.reason.value}"'
        if gate.diff is None:
            return text
        if last_diff[0] is not gate.diff:
            last_diff = (gate.diff, json.dumps(gate.diff))
        return f'{text}, "diff": {last_diff[1]}'

    fragments = _Fragments(pair_tail)
    chunks = _Chunks(out)
    chunks.add("[")
    separator = "\n"
    for note in stale:
        head = f'  {{"note_path": {json.dumps(note.note_path)}, "gate_id": '
        chunks.add(separator + head + ("},\n" + head).join(fragments.of(note.gates)) + "}")
        separator = ",\n"
    for item in unreviewable:  # after the pairs: a note or a gate, with the reason
        chunks.add(separator + "  " + json.dumps(item.as_json()))
        separator = ",\n"
    chunks.add("]\n" if separator == "\n" else "\n]\n")
    chunks.flush()


def write_text(out: TextIO, selection: Selection) -> None:
    """Each note with its stale gates, then what cannot be reviewed, then the counts."""
    fragments = _Fragments(lambda g: f"  - {app.shown(g.gate_id)} ({g.reason.value})\n")
    chunks = _Chunks(out)
    for note in selection.stale:
        chunks.add(app.shown(note.note_path) + "\n" + "".join(fragments.of(note.gates)))
    lines: list[str] = []
    if selection.unreviewable:
        lines.append("cannot be reviewed:")
        lines.extend(f"  - {u.describe()}" for u in selection.unreviewable)
    pairs = sum(len(n.gates) for n in selection.stale)
    bad = len(selection.unreviewable)
    lines.append(
        f"{pairs} stale pair(s) in {len(selection.stale)} note(s) of "
        f"{selection.notes} for {selection.model_id}"
        + (f"; {bad} note(s) or gate(s) cannot be reviewed" if bad else "")
    )
    chunks.add("\n".join(lines) + "\n")
    chunks.flush()
