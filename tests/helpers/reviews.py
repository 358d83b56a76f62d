"""Gate review texts in the pair-protocol body shape, as reviewers write them."""

from __future__ import annotations

from collections.abc import Sequence

# The finding of a WARN or FAIL review from `review`.
FINDING = "the title overstates what the body shows."


def review_text(
    decision: str | None = "PASS",
    findings: Sequence[tuple[str, str]] = (),
    summary: str = "Reviewed.",
    *,
    none: str = "- none",
) -> str:
    """A review body: the summary, one line per (severity, text) finding (or
    `none` when there is none), and the result line unless `decision` is None."""
    lines = [f"- {severity}: {text}" for severity, text in findings] or [none]
    text = f"### Summary\n{summary}\n\n### Findings\n" + "\n".join(lines) + "\n"
    return text if decision is None else f"{text}\n## Result: {decision}\n"


def review(
    decision: str | None = "PASS",
    finding: str = FINDING,
    summary: str = "Reviewed the note against the gate.",
) -> str:
    """A review with one `finding` of the decision's severity when it is WARN
    or FAIL, none otherwise; no result line when `decision` is None."""
    findings = [(decision, finding)] if decision in ("WARN", "FAIL") else []
    return review_text(decision, findings, summary)
