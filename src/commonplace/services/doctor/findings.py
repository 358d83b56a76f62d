"""What `commonplace doctor` reports: one finding per thing checked, each
saying what is wrong (or fine) and how to fix it."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

OK = "ok"
WARNING = "warning"
PROBLEM = "problem"
SEVERITIES = (OK, WARNING, PROBLEM)


@dataclass(frozen=True)
class Finding:
    """`check` names what was checked (`config`, `store`, ...); `fix` says
    what to do, empty when there is nothing to do."""

    check: str
    severity: str
    message: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return {
            "check": self.check,
            "severity": self.severity,
            "message": self.message,
            "fix": self.fix,
        }


def did_you_mean(word: str, known: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The known word `word` is probably a misspelling of, if any."""
    close = difflib.get_close_matches(word.lower(), sorted(known), n=1, cutoff=cutoff)
    return close[0] if close else None


def suggestion(word: str, known: Iterable[str], cutoff: float = 0.6) -> str:
    """` (did you mean 'x'?)`, or nothing."""
    guess = did_you_mean(word, known, cutoff)
    return f" (did you mean {guess!r}?)" if guess else ""
