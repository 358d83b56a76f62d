"""Sections of a stored review body (pure): the suggested revision a reviewer
wrote under `### Suggested Revision` (SPEC 7's output grammar)."""

from __future__ import annotations

import re

_HEADING = re.compile(r"^ {0,3}(#{1,3})\s+(.*?)\s*#*\s*$")
_NOTHING = {"", "none", "- none", "n/a", "(none)"}


def suggested_revision(rationale: str) -> str | None:
    """The text under the review's `Suggested Revision` heading, up to the
    next section or result heading (`#` to `###`), or None when there is none
    or it says there is none."""
    lines = rationale.replace("\r\n", "\n").split("\n")
    start = None
    for i, line in enumerate(lines):
        heading = _HEADING.match(line)
        if heading is None:
            continue
        if start is not None:
            lines = lines[start:i]
            break
        if heading.group(2).rstrip(":").strip().lower() == "suggested revision":
            start = i + 1
    else:
        if start is None:
            return None
        lines = lines[start:]
    text = "\n".join(lines).strip("\n").rstrip()
    if text.strip().lower() in _NOTHING:
        return None
    return text
