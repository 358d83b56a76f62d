"""The parts of a note a gate can watch (SPEC 2, 11): `title`, `description`,
`body` and `frontmatter`, each in a form where changes of whitespace or of
YAML layout compare equal, so that a trivial edit does not count as a change.

- `frontmatter`: the parsed mapping (a block that does not parse compares as
  its text with whitespace runs collapsed);
- `description`: the frontmatter's `description`, whitespace collapsed;
- `title`: the frontmatter's `title`, else the body's first `# ` heading;
- `body`: everything after the frontmatter, whitespace collapsed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from commonplace import frontmatter

WATCHABLE = ("title", "description", "body", "frontmatter")
_HEADING = re.compile(r"^#[ \t]+(.+?)[ \t#]*$", re.MULTILINE)


def changed_parts(before: str, after: str, watches: Iterable[str]) -> tuple[str, ...]:
    """The watched parts that differ between two versions of a note, in the
    order `watches` names them; empty when the change is trivial for it."""
    old, new = _Parts(before), _Parts(after)
    return tuple(part for part in watches if old.get(part) != new.get(part))


class _Parts:
    """Parts computed on demand: most gates watch only the body."""

    def __init__(self, text: str) -> None:
        self.block, self.body = frontmatter.split(text)
        self._mapping: Any = None

    def get(self, part: str) -> Any:
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
                heading = _HEADING.search(self.body)
                value = heading.group(1) if heading else None
            return _collapse(value) if isinstance(value, str) else value
        raise ValueError(f"not a watchable part: {part}")

    @property
    def mapping(self) -> Any:
        if self._mapping is None:
            if self.block is None:
                self._mapping = {}
            else:
                try:
                    self._mapping = frontmatter.parse(self.block)
                except frontmatter.FrontmatterError:
                    self._mapping = _collapse(self.block)
        return self._mapping


def _collapse(text: str) -> str:
    return " ".join(text.split())
