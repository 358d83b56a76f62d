"""The pair grammar's literals and the documents built from reviewed blocks
(SPEC 7): one block per (note, gate), keyed by sentinel lines.

Format `pairs-v2` puts the batch's boundary token into every sentinel
(`=== PAIR REVIEW START <token>: <note> :: <gate> ===`); a line without the
token is text, wherever it appears, so nothing a note says can open or close
a block. `pairs-v1` (no token) is kept for batches prepared before it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import NamedTuple

PAIR_SEPARATOR = " :: "
MARK = "=== PAIR REVIEW "  # what every sentinel, of any version, starts with
START = "=== PAIR REVIEW START: "  # pairs-v1
END = "=== PAIR REVIEW END: "  # pairs-v1
CLOSE = " ==="
PLACEHOLDER = "<note_path> :: <gate_id>"  # the key as the prompt states the grammar
TOKEN_PLACEHOLDER = "<token>"  # the token as the prompt states the grammar

V1 = "pairs-v1"
V2 = "pairs-v2"


class Pair(NamedTuple):
    note_path: str
    gate_id: str

    def __str__(self) -> str:
        return f"{self.note_path}{PAIR_SEPARATOR}{self.gate_id}"


def new_token() -> str:
    """A fresh boundary token: 128 random bits, URL-safe characters only."""
    # what secrets.token_urlsafe(16) returns, without importing `secrets`
    # (random, hmac, hashlib: milliseconds of every ingest's start); base64
    # only here, where a batch is made
    import base64

    return base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode("ascii")


def is_token(value: str) -> bool:
    """Whether `value` could be a token we drew (so it is safe in a sentinel)."""
    return len(value) >= 11 and all(c.isascii() and (c.isalnum() or c in "-_") for c in value)


def start_prefix(token: str | None) -> str:
    return START if token is None else f"=== PAIR REVIEW START {token}: "


def end_prefix(token: str | None) -> str:
    return END if token is None else f"=== PAIR REVIEW END {token}: "


def format_version(token: str | None) -> str:
    return V1 if token is None else V2


def start_line(pair: Pair, *, token: str | None) -> str:
    return f"{start_prefix(token)}{pair}{CLOSE}"


def end_line(pair: Pair, *, token: str | None) -> str:
    return f"{end_prefix(token)}{pair}{CLOSE}"


def block(pair: Pair, text: str, *, token: str | None) -> str:
    """One block around a review text, newline-terminated."""
    return f"{start_line(pair, token=token)}\n{text.rstrip()}\n{end_line(pair, token=token)}\n"


def run_document(
    review_run_id: int,
    note_path: str,
    texts: Sequence[tuple[str, str]],
    *,
    token: str | None,
) -> str:
    """A run's canonical bundle: a short header, then one block per reviewed
    gate in the run's order, with its batch's token. It is valid pair grammar
    and can be ingested again."""
    header = f"# Review bundle\n\nReview run id: {review_run_id}\nNote: {note_path}\n"
    blocks = [block(Pair(note_path, gate_id), text, token=token) for gate_id, text in texts]
    return header + "".join("\n" + b for b in blocks)


def relocate_document(document: str, old_path: str, new_path: str, *, token: str | None) -> str:
    """A run document naming `new_path` where it named `old_path`: in the
    header and the sentinel lines only. Inside a block only its own END line
    is a sentinel, as the parser reads it; a sentinel quoted in a review's
    text (or, in pairs-v2, any line without the token) stays as written."""
    start = start_prefix(token)
    lines = document.split("\n")
    open_pair: Pair | None = None
    started = False
    for i, line in enumerate(lines):
        if open_pair is not None:
            if line.strip() == end_line(open_pair, token=token):
                if open_pair.note_path == old_path:
                    lines[i] = end_line(Pair(new_path, open_pair.gate_id), token=token)
                open_pair = None
            continue
        stripped = line.strip()
        if stripped.startswith(start) and stripped.endswith(CLOSE):
            started = True
            key = stripped[len(start) : -len(CLOSE)]
            note_path, separator, gate_id = key.partition(PAIR_SEPARATOR)
            if separator:
                open_pair = Pair(note_path.strip(), gate_id.strip())
                if open_pair.note_path == old_path:
                    lines[i] = start_line(Pair(new_path, open_pair.gate_id), token=token)
        elif not started and line == f"Note: {old_path}":
            lines[i] = f"Note: {new_path}"
    return "\n".join(lines)


def gate_file_name(gate_id: str) -> str:
    """The per-gate artifact name: `prose/source-residue` -> `prose__source-residue.md`."""
    return gate_id.replace("/", "__") + ".md"
