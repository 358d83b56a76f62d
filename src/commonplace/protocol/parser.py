"""Reading pair blocks out of a reviewer's output (SPEC 7, Parser).

Structural anomalies (nested, mismatched, unterminated, duplicate or
unexpected blocks, empty bodies, a key that is no KB path) make the whole
output untrustworthy and raise `MalformedOutput`. A missing expected pair is
not an anomaly: it is reported, so that runs whose pairs all arrived can still
complete. Text outside blocks is ignored, and a sentinel glued to the end of a
line of prose is still found. One pass, linear in the size of the output.

With the batch's boundary token (`pairs-v2`) only lines carrying exactly that
token are sentinels; every other line, sentinel-like or not, fenced or not, is
text. Without it (`pairs-v1`, batches prepared before the token) sentinels
quoted in a code fence inside a block are text, the best v1 could do.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from typing import NamedTuple

from commonplace.errors import UserError
from commonplace.kb.paths import is_canonical
from commonplace.markdown import track_fence
from commonplace.protocol.grammar import (
    CLOSE,
    MARK,
    PAIR_SEPARATOR,
    PLACEHOLDER,
    Pair,
    end_prefix,
    start_prefix,
)


class MalformedOutput(UserError):
    """The output breaks the pair grammar; none of it can be trusted."""


class ParsedOutput(NamedTuple):
    bodies: Mapping[Pair, str]  # expected pairs found, each body as written
    missing: tuple[Pair, ...]  # expected pairs not found, in expected order
    # sentinel-like lines without the batch's token (v2): a reviewer that
    # dropped or mangled the token, worth naming when pairs are missing
    untokened: int = 0


_LINE_ENDS = re.compile(r"\r\n|\r|\n")


def decode_output(data: bytes) -> str:
    """Output bytes as text; empty or binary output is malformed."""
    if b"\0" in data:
        raise MalformedOutput("the output is binary data, not text")
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise MalformedOutput(f"the output is not UTF-8 text (byte {exc.start})") from None
    if not text.strip():
        raise MalformedOutput("the output is empty")
    return text


def parse_output(
    text: str,
    expected: Sequence[Pair],
    *,
    token: str | None,
    ignored: Collection[Pair] = (),
) -> ParsedOutput:
    """Blocks for the `expected` pairs, in the grammar of the batch's boundary
    `token` (None: pairs-v1). Blocks for `ignored` pairs (batch-mates of the
    runs being ingested) are checked for structure, then dropped."""
    start, end = start_prefix(token), end_prefix(token)
    fences = token is None  # v2 needs no guessing about quotes
    untokened = 0
    wanted = set(expected)
    bodies: dict[Pair, str] = {}
    seen: set[Pair] = set()
    open_pair: Pair | None = None
    opened_at = 0
    body: list[str] = []
    fence = ""  # the code fence open inside the current block, if any
    keys: dict[str, Pair] = {}  # each key is checked once, at its START
    # CR alone ends a line too (old Mac, some terminals' captures)
    lines = text.split("\n") if "\r" not in text else _LINE_ENDS.split(text)
    for number, raw in enumerate(lines, start=1):
        if MARK not in raw:  # most lines: text, no sentinel nor sentinel-like piece
            if open_pair is not None:
                text_line = raw.rstrip("\r")
                body.append(text_line)
                if fences:
                    fence = track_fence(fence, text_line)
            continue
        pieces = _pieces(raw, start, end)
        if token is not None and pieces[-1][0] is None and MARK in raw:
            untokened += raw.rstrip().endswith("===") and PLACEHOLDER not in raw
        quoted = fence and pieces[-1][0] is not None
        if quoted and not any(k == end and _same_pair(c, open_pair) for k, c in pieces):
            body.append(raw.rstrip("\r"))  # a sentinel quoted in a code block, as written
            continue
        for kind, content in pieces:
            if kind is None:
                if open_pair is not None:
                    body.append(content)
                    if fences:
                        fence = track_fence(fence, content)
                continue
            if fence and not (kind == end and _same_pair(content, open_pair)):
                body.append(f"{kind}{content}{CLOSE}")  # quoted before the END, same line
                continue
            pair = keys.get(content) or keys.setdefault(content, _pair(content, number))
            if kind == start:
                if open_pair is not None:
                    raise MalformedOutput(
                        f"line {number}: block {pair} starts inside the open block"
                        f" {open_pair} (line {opened_at}); blocks cannot nest"
                    )
                if pair in seen:
                    raise MalformedOutput(f"line {number}: a second block for {pair}")
                if pair not in wanted and pair not in ignored:
                    raise MalformedOutput(
                        f"line {number}: block for {pair}, which was not requested"
                        f" (requested: {_listing(expected)})"
                    )
                seen.add(pair)
                open_pair, opened_at, body, fence = pair, number, [], ""
                continue
            if open_pair is None:
                raise MalformedOutput(f"line {number}: END for {pair} without its START")
            if pair != open_pair:
                raise MalformedOutput(
                    f"line {number}: END for {pair} does not match the open block"
                    f" {open_pair} (line {opened_at})"
                )
            content_text = "\n".join(body).strip("\n")
            if not content_text.strip():
                raise MalformedOutput(f"line {number}: the block for {pair} is empty")
            if pair in wanted:
                bodies[pair] = content_text + "\n"
            open_pair, fence = None, ""
    if open_pair is not None:
        raise MalformedOutput(
            f"the block for {open_pair} (line {opened_at}) is never closed by its END line"
        )
    missing = tuple(dict.fromkeys(p for p in expected if p not in bodies))
    return ParsedOutput(bodies, missing, untokened)


def _pieces(raw: str, start: str, end: str) -> list[tuple[str | None, str]]:
    """A line as (kind, text) pieces: plain text (kind None) and sentinels
    (kind `start` or `end`, text the pair key). A sentinel may follow prose on
    the same line; everything before it is plain text."""
    line = raw.rstrip()
    if not line.endswith("===") or MARK not in line:
        return [(None, raw.rstrip("\r"))]
    line = line.lstrip()
    pieces: list[tuple[str | None, str]] = []
    while line.endswith(CLOSE):
        at = line.rfind(MARK)
        if at < 0:
            break
        tail = line[at:]
        kind = start if tail.startswith(start) else end if tail.startswith(end) else None
        if kind is None:
            break
        key = tail[len(kind) : -len(CLOSE)]
        if key.strip() == PLACEHOLDER:
            break  # the grammar echoed from the prompt, not a block
        pieces.append((kind, key))
        line = line[:at].rstrip()
    if not pieces:
        return [(None, raw.rstrip("\r"))]
    if line:
        pieces.append((None, line))
    pieces.reverse()
    return pieces


def _same_pair(key: str, pair: Pair | None) -> bool:
    note_path, _, gate_id = key.partition(PAIR_SEPARATOR)
    return pair is not None and (note_path.strip(), gate_id.strip()) == pair


def _pair(key: str, number: int) -> Pair:
    note_path, separator, gate_id = key.partition(PAIR_SEPARATOR)
    note_path, gate_id = note_path.strip(), gate_id.strip()
    if not separator or not note_path or not gate_id:
        raise MalformedOutput(
            f"line {number}: sentinel key {key.strip()!r} is not '<note_path> :: <gate_id>'"
        )
    if not is_canonical(note_path) or not is_canonical(gate_id):
        escapes = any(p.startswith("/") or ".." in p.split("/") for p in (note_path, gate_id))
        problem = (
            "names a path outside the knowledge base"
            if escapes
            else "is not a canonical KB-relative path (no '.', empty or backslash parts)"
        )
        raise MalformedOutput(f"line {number}: sentinel key {key.strip()!r} {problem}")
    return Pair(note_path, gate_id)


def _listing(pairs: Sequence[Pair], limit: int = 6) -> str:
    shown = ", ".join(str(p) for p in pairs[:limit])
    return shown + (f", and {len(pairs) - limit} more" if len(pairs) > limit else "")
