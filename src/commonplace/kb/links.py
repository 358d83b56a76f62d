"""Markdown links of a note, resolved to KB keys before a reviewer sees them,
so that following a link never needs a search by name."""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

from commonplace import frontmatter
from commonplace.kb.paths import is_canonical

# `[text](target)` with an optional title; images count too (`![alt](x.md)`).
_LINK = re.compile(r"\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+[\"'(][^)\n]*)?\s*\)")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


@dataclass(frozen=True)
class NoteLinks:
    """Distinct `.md` link targets in first-seen order: those that name a file
    of the KB (raw target, KB key) and those that do not."""

    resolved: tuple[tuple[str, str], ...]
    unresolved: tuple[str, ...]


def note_links(kb_root: Path, note_key: str, text: str) -> NoteLinks:
    """Links in the note body outside code, to local Markdown files."""
    base = posixpath.dirname(note_key)
    resolved: dict[str, str] = {}  # KB key -> the first raw target naming it
    unresolved: dict[str, str] = {}  # path -> the first raw target naming it
    for target in _targets(frontmatter.split(text)[1]):
        if _SCHEME.match(target) or target.startswith(("#", "/")):
            continue
        path = target.split("#", 1)[0].split("?", 1)[0]
        if not path.endswith(".md"):
            continue
        key = posixpath.normpath(posixpath.join(base, _unescape(path)))
        if key in resolved or key in unresolved:
            continue
        if is_canonical(key) and os.path.isfile(os.path.join(kb_root, key)):
            resolved[key] = target
        else:
            unresolved[key] = target
    return NoteLinks(tuple((raw, key) for key, raw in resolved.items()), tuple(unresolved.values()))


def _targets(body: str) -> list[str]:
    targets: list[str] = []
    fence: str | None = None
    for line in body.split("\n"):
        stripped = line.lstrip()
        marker = stripped[:3]
        if marker in ("```", "~~~"):
            run = len(stripped) - len(stripped.lstrip(marker[0]))
            if fence is None:
                fence = marker[0] * run
            elif stripped.startswith(fence) and not stripped.strip(marker[0]).strip():
                fence = None
            continue
        if fence is not None or "](" not in line:
            continue
        targets.extend(m.group(1) for m in _LINK.finditer(_without_code_spans(line)))
    return targets


def _without_code_spans(line: str) -> str:
    """The line with inline code spans removed (a span closes at the next run
    of exactly as many backticks; an unclosed run is literal text)."""
    if "`" not in line:
        return line
    runs = [(m.start(), m.end()) for m in re.finditer(r"`+", line)]
    kept, position, i = [], 0, 0
    while i < len(runs):
        start, end = runs[i]
        width = end - start
        closing = next(
            (j for j in range(i + 1, len(runs)) if runs[j][1] - runs[j][0] == width), None
        )
        if closing is None:
            i += 1
            continue
        kept.append(line[position:start])
        position = runs[closing][1]
        i = closing + 1
    kept.append(line[position:])
    return "".join(kept)


def _unescape(path: str) -> str:
    return path.replace("%20", " ")
