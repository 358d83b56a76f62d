"""The size of a prompt without its text: what a forecast needs of the many
batches of a large dry run (characters, pairs, cache points and which
prefixes batches share), summed from the lengths of the pieces
`render_prompt` joins. Each gate's and note's piece is measured once per
sizer, so sizing a batch costs about as much as listing its pairs.

Exactly `render_prompt`'s figures, with a token of the length `new_token`
draws (tests compare the two on the example KB and the corpus).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from itertools import chain
from operator import itemgetter
from typing import NamedTuple

from commonplace.kb.links import NoteLinks
from commonplace.protocol.grammar import Pair, new_token
from commonplace.protocol.prompt import (
    GATES_HEADING,
    NOTES_HEADING,
    PAIRS_HEADING,
    STATIC_CHARS,
    PromptGate,
    PromptNote,
    gate_section,
    note_section,
    output_section,
    pair_line,
    pairs_of,
)

TOKEN_CHARS = len(new_token())  # every token drawn has this length


_Keys = tuple[Hashable, Hashable, Hashable]


class PromptSize(NamedTuple):
    chars: int
    pairs: tuple[Pair, ...]
    cache_points: tuple[int, int, int]
    # Per cache point: the point and the gate ids before it, which fix the
    # prefix text within one sizer (one version of each gate).
    prefixes: _Keys

    def prefix_key(self, point: int) -> Hashable:
        return self.prefixes[self.cache_points.index(point)]


class PromptSizer:
    """Sizes prompts as `render_prompt` renders them in reply mode (or with
    `output_path`). Keeps one layout per set of gates and one length per note: a sizer
    serves one dry run, whose gates and notes do not change under it."""

    def __init__(self, output_path: str | None = None) -> None:
        # keyed by the gate ids: within one sizer a gate id is one gate text
        self._heads: dict[tuple[str, ...], tuple[int, tuple[int, int, int], _Keys]] = {}
        # keyed without the gate ids: a note's section is the same in every batch
        self._notes: dict[tuple[str, int, str], tuple[NoteLinks | None, int]] = {}
        self._checked: set[str] = set()  # names already found fit for a pair block
        self._tail = len(output_section("x" * TOKEN_CHARS, output_path))
        self._pair = len(pair_line(Pair("", "")))  # a pair's line less its two names

    def size(self, notes: Sequence[PromptNote], gates: Mapping[str, PromptGate]) -> PromptSize:
        pairs = pairs_of(notes, gates, self._checked)
        ids = tuple(sorted(set(map(itemgetter(1), pairs))))
        head = self._heads.get(ids)
        if head is None:
            head = self._heads[ids] = _head([gates[g] for g in ids])
        chars, points, keys = head
        chars += len(NOTES_HEADING) + sum(map(self._note, notes))
        # the pair lines' lengths, without writing them
        names = sum(map(len, chain.from_iterable(pairs)))
        chars += len(PAIRS_HEADING) + len(pairs) * self._pair + names + self._tail
        return PromptSize(chars, pairs, points, keys)

    def _note(self, note: PromptNote) -> int:
        key = (note.note_path, note.review_run_id, note.text)
        found = self._notes.get(key)
        # the same links object, batch after batch: compared by identity first
        if found is None or not (found[0] is note.links or found[0] == note.links):
            found = self._notes[key] = (note.links, len(note_section(note)))
        return found[1]


def _head(used: Sequence[PromptGate]) -> tuple[int, tuple[int, int, int], _Keys]:
    """Characters up to the notes, the cache points and the prefix keys of a
    prompt with these gates (in id order), as `render_prompt` lays them out."""
    ordered = sorted(used, key=lambda g: (g.conditional, g.gate_id))
    chars = STATIC_CHARS + len(GATES_HEADING)
    common_end = 0
    common_ids: tuple[str, ...] = ()
    for i, gate in enumerate(ordered):
        if gate.conditional and not common_end:
            common_end, common_ids = chars, tuple(g.gate_id for g in ordered[:i])
        chars += len(gate_section(gate))
    shared_ids = tuple(g.gate_id for g in ordered)
    if not common_end:
        common_end, common_ids = chars, shared_ids
    keys = ((STATIC_CHARS, ()), (common_end, common_ids), (chars, shared_ids))
    return chars, (STATIC_CHARS, common_end, chars), keys
