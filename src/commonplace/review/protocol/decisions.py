"""Reading a review's decision and findings from its text (SPEC 7, Decisions).

The decision comes from the result line (`## Result: PASS`). Tolerated forms:
bold, without the heading marks, a trailing parenthetical, any case, anywhere
in the text. Disagreeing result lines, or none, give `unknown`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Decision(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    ERROR = "error"
    UNKNOWN = "unknown"

    @property
    def accepts(self) -> bool:
        """Only real verdicts make a pair fresh; `error` and `unknown` never do."""
        return self in (Decision.PASS, Decision.WARN, Decision.FAIL)


@dataclass(frozen=True)
class Finding:
    severity: str
    text: str


_RESULT_LINE = re.compile(
    r"^\s*(?:#{1,6}\s*)?[*_]{0,2}\s*result\s*[*_]{0,2}\s*:\s*[*_]{0,2}\s*"
    r"([A-Za-z]+)\s*[*_]{0,2}\s*(?:\([^\n]*\))?\s*[*_]{0,2}\s*[.!]?\s*$",
    re.IGNORECASE,
)
_WORDS = {
    "pass": Decision.PASS,
    "passed": Decision.PASS,
    "warn": Decision.WARN,
    "warning": Decision.WARN,
    "fail": Decision.FAIL,
    "failed": Decision.FAIL,
    "error": Decision.ERROR,
}
_FINDING = re.compile(
    r"^\s*[-*]\s+[*_]{0,2}(WARN|FAIL|INFO|NOTE|ERROR|PASS)[*_]{0,2}\s*:\s*[*_]{0,2}\s*(\S.*?)\s*$",
    re.IGNORECASE,
)


def parse_decision(text: str) -> Decision:
    found = {_WORDS.get(m.group(1).lower(), Decision.UNKNOWN) for m in _result_lines(text)}
    return found.pop() if len(found) == 1 else Decision.UNKNOWN


def canonical_rationale(text: str, decision: Decision) -> str:
    """The author's text with a canonical `## Result: X` footer when the
    decision is known; otherwise the text unchanged (trailing space trimmed)."""
    lines = text.rstrip().splitlines()
    if decision is Decision.UNKNOWN:
        return "\n".join(lines) + "\n" if lines else ""
    footer = f"## Result: {decision.value.upper()}"
    if lines and _RESULT_LINE.match(lines[-1]):
        lines[-1] = footer
    else:
        lines += ["", footer] if lines else [footer]
    return "\n".join(lines) + "\n"


def parse_findings(text: str) -> tuple[Finding, ...]:
    return tuple(
        Finding(m.group(1).lower(), m.group(2))
        for m in map(_FINDING.match, text.splitlines())
        if m is not None
    )


def _result_lines(text: str) -> list[re.Match[str]]:
    return [m for m in map(_RESULT_LINE.match, text.splitlines()) if m is not None]
