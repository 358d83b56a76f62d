"""The parts of a note a gate can watch (SPEC 2, 11): `title`, `description`,
`body` and `frontmatter`, each in a form where changes of whitespace or of
YAML layout compare equal, so that a trivial edit does not count as a change.

- `frontmatter`: the parsed mapping, whitespace collapsed in every string (a
  block that does not parse compares as its text, whitespace collapsed);
- `description`: the frontmatter's `description`, whitespace collapsed;
- `title`: the frontmatter's `title`, else the body's first `# ` heading
  outside code blocks;
- `body`: everything after the frontmatter, whitespace collapsed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from commonplace import frontmatter
from commonplace.markdown import unfenced

WATCHABLE = ("title", "description", "body", "frontmatter")
_HEADING = re.compile(r"#[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*")


def changed_parts(before: str, after: str, watches: Iterable[str]) -> tuple[str, ...]:
    """The watched parts that differ between two versions of a note, in the
    order `watches` names them; empty when the change is trivial for it."""
    old, new = _Parts(before), _Parts(after)
    return tuple(part for part in watches if old.get(part) != new.get(part))


class _Parts:
    """Parts computed on demand: most gates watch only the body."""

    def __init__(self, text: str) -> None:
        self.block, self.body = frontmatter.split(text)
        self._mapping: object = None

    def get(self, part: str) -> object:
        if part == "body":
            return _collapse(self.body)
        if part == "frontmatter":
            return self.mapping
        if part == "description":
            value = self.mapping.get("description") if isinstance(self.mapping, dict) else None
            return _collapse(value) if isinstance(value, str) else value
        if part == "title":
            value = self.mapping.get("title") if isinstance(self.mapping, dict) else None
            if value is None:
                value = _first_heading(self.body)
            return _collapse(value) if isinstance(value, str) else value
        raise ValueError(f"not a watchable part: {part}")

    @property
    def mapping(self) -> object:
        if self._mapping is None:
            if self.block is None:
                self._mapping = {}
            else:
                try:
                    self._mapping = _collapsed(frontmatter.parse(self.block))
                except frontmatter.FrontmatterError:
                    self._mapping = _collapse(self.block)
        return self._mapping


def _first_heading(body: str) -> str | None:
    """The text of the first level-one ATX heading outside fenced code."""
    for line in unfenced(body.splitlines()):
        if heading := _HEADING.fullmatch(line.rstrip()):
            return heading.group(1)
    return None


def _collapsed(value: object) -> object:
    """A parsed YAML value with the whitespace of every string collapsed."""
    if isinstance(value, str):
        return _collapse(value)
    if isinstance(value, dict):
        return {k: _collapsed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_collapsed(v) for v in value]
    return value


def _collapse(text: str) -> str:
    return " ".join(text.split())
