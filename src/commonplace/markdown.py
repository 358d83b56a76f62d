"""The little Markdown the system has to read: fenced code blocks, whose
lines are quotes (a result line, a heading or a sentinel shown as an example)
rather than what they look like."""

from __future__ import annotations

from collections.abc import Iterable, Iterator


def track_fence(fence: str, line: str) -> str:
    """The fence open after `line`, given the one open before it ("" for
    none). CommonMark: a fence closes with a run of the same character at
    least as long, and nothing after it."""
    stripped = line.strip()
    if not stripped.startswith(("```", "~~~")):
        return fence
    char = stripped[0]
    run = len(stripped) - len(stripped.lstrip(char))
    if not fence:
        return char * run
    if char == fence[0] and run >= len(fence) and not stripped[run:].strip():
        return ""
    return fence


def unfenced(lines: Iterable[str]) -> Iterator[str]:
    """The lines outside fenced code blocks, fence lines excluded."""
    fence = ""
    for line in lines:
        after = track_fence(fence, line)
        if not fence and not after:
            yield line
        fence = after
