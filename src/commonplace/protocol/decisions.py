"""Reading a review's decision and findings from its text (SPEC 7, Decisions).

The decision comes from the result line (`## Result: PASS`). Tolerated forms:
bold, without the heading marks, a trailing parenthetical, any case, anywhere
in the text. Disagreeing result lines, or none, give `unknown`.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import NamedTuple

from commonplace.markdown import unfenced


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


class Finding(NamedTuple):
    severity: str
    text: str


_DECORATION = "*_"
_WORDS = {
    "pass": Decision.PASS,
    "passed": Decision.PASS,
    "warn": Decision.WARN,
    "warning": Decision.WARN,
    "fail": Decision.FAIL,
    "failed": Decision.FAIL,
    "error": Decision.ERROR,
}
# Only the finding's label is matched by pattern; the rest is trimmed with
# string methods, so hostile whitespace cannot make matching slow.
_FINDING_LABEL = re.compile(
    r"\s*[-*]\s+[*_]{0,2}(WARN|FAIL|INFO|NOTE|ERROR|PASS)[*_]{0,2}[ \t]*:", re.IGNORECASE
)
_LEADING_WORD = re.compile(r"[A-Za-z]+")


def parse_decision(text: str) -> Decision:
    """The one verdict the text's result lines agree on; result lines shown
    inside a fenced code block are quotes, not verdicts. The line that ends
    the text always counts when it is a result line, fenced or not: a quote
    that leaves a fence open must not hide the reviewer's own verdict (and
    leave a quoted one to decide)."""
    lines = text.split("\n")
    words = [word for word in map(result_word, unfenced(lines)) if word is not None]
    last = next((line for line in reversed(lines) if line.strip()), "")
    closing = result_word(last)
    if closing is not None:
        words.append(closing)
    found = {_WORDS.get(word.lower(), Decision.UNKNOWN) for word in words}
    return found.pop() if len(found) == 1 else Decision.UNKNOWN


def result_word(line: str) -> str | None:
    """The verdict word of a result line (`## Result: PASS`, `**Result:** warn`,
    `Result: FAIL (minor)`), or None when the line is not one."""
    if ":" not in line:  # most lines of a review; no need to look closer
        return None
    text = line.strip().lstrip("#").strip().strip(_DECORATION).strip()
    if text[:6].lower() != "result":
        return None
    rest = text[6:].lstrip(_DECORATION + " \t")
    if not rest.startswith(":"):
        return None
    rest = rest[1:].strip().strip(_DECORATION).strip()
    word = _LEADING_WORD.match(rest)
    if word is None:
        return None
    tail = rest[word.end() :].strip().strip(_DECORATION).strip().rstrip(".!")
    if tail and not (tail.startswith("(") and tail.endswith(")")):
        return None
    return word.group()


def canonical_rationale(text: str, decision: Decision) -> str:
    """The author's text with a canonical `## Result: X` footer when the
    decision is known; otherwise the text unchanged. Either way line ends
    become `\n` and blank lines around the text go, so that every path stores
    the same text for the same review."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").rstrip().split("\n")
    while lines and not lines[0].strip():
        del lines[0]
    body = "\n".join(lines)
    if decision is Decision.UNKNOWN:
        return body + "\n" if body else ""
    footer = f"## Result: {decision.value.upper()}"
    if lines and result_word(lines[-1]) is not None:
        lines[-1] = footer
    else:
        lines += ["", footer] if lines else [footer]
    return "\n".join(lines) + "\n"


def parse_findings(text: str) -> tuple[Finding, ...]:
    findings: list[Finding] = []
    if ":" not in text:  # every label ends with one
        return ()
    for line in text.split("\n"):
        label = _FINDING_LABEL.match(line) if ":" in line else None
        if label is not None:
            detail = line[label.end() :].strip().lstrip(_DECORATION).strip()
            if detail:
                findings.append(Finding(label.group(1).lower(), detail))
    return tuple(findings)
