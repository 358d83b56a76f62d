"""The pair grammar's literals and the documents built from reviewed blocks
(SPEC 7): one block per (note, gate), keyed by sentinel lines."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

PAIR_SEPARATOR = " :: "
START = "=== PAIR REVIEW START: "
END = "=== PAIR REVIEW END: "
CLOSE = " ==="
PLACEHOLDER = "<note_path> :: <gate_id>"  # the key as the prompt states the grammar


class Pair(NamedTuple):
    note_path: str
    gate_id: str

    def __str__(self) -> str:
        return f"{self.note_path}{PAIR_SEPARATOR}{self.gate_id}"


def start_line(pair: Pair) -> str:
    return f"{START}{pair}{CLOSE}"


def end_line(pair: Pair) -> str:
    return f"{END}{pair}{CLOSE}"


def block(pair: Pair, text: str) -> str:
    """One block around a review text, newline-terminated."""
    return f"{start_line(pair)}\n{text.rstrip()}\n{end_line(pair)}\n"


def run_document(review_run_id: int, note_path: str, texts: Sequence[tuple[str, str]]) -> str:
    """A run's canonical bundle: a short header, then one block per reviewed
    gate in the run's order. It is valid pair grammar and can be ingested again."""
    header = f"# Review bundle\n\nReview run id: {review_run_id}\nNote: {note_path}\n"
    blocks = [block(Pair(note_path, gate_id), text) for gate_id, text in texts]
    return header + "".join("\n" + b for b in blocks)


def relocate_document(document: str, old_path: str, new_path: str) -> str:
    """A run document naming `new_path` where it named `old_path`: in the
    header and the sentinel lines only. Inside a block only its own END line
    is a sentinel, as the parser reads it; a sentinel quoted in a review's
    text, in a code block or not, stays as written."""
    lines = document.split("\n")
    open_pair: Pair | None = None
    started = False
    for i, line in enumerate(lines):
        if open_pair is not None:
            if line.strip() == end_line(open_pair):
                if open_pair.note_path == old_path:
                    lines[i] = end_line(Pair(new_path, open_pair.gate_id))
                open_pair = None
            continue
        if line.startswith(START) and line.rstrip().endswith(CLOSE):
            started = True
            key = line.strip()[len(START) : -len(CLOSE)]
            note_path, separator, gate_id = key.partition(PAIR_SEPARATOR)
            if separator:
                open_pair = Pair(note_path.strip(), gate_id.strip())
                if open_pair.note_path == old_path:
                    lines[i] = start_line(Pair(new_path, open_pair.gate_id))
        elif not started and line == f"Note: {old_path}":
            lines[i] = f"Note: {new_path}"
    return "\n".join(lines)


def gate_file_name(gate_id: str) -> str:
    """The per-gate artifact name: `prose/source-residue` -> `prose__source-residue.md`."""
    return gate_id.replace("/", "__") + ".md"
