"""SARIF 2.1.0 (SPEC 12): one result per `warn`/`fail` finding of the
partition's current reviews, for code-scanning tools.

`ruleId` is the gate id; the location is the note, with a line when the
finding quotes text ("...", “...” or `...`) that is found in the note as it
is now; `partialFingerprints` hash the note, the gate and the finding's
words, so the same finding keeps its identity from one run to the next. A
`warn` or `fail` review without such findings gives one result of its own.
"""

from __future__ import annotations

import hashlib
import re

from commonplace.reports.data import Cell, ReportData

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
FINGERPRINT = "commonplaceFinding/v1"
_LEVELS = {"warn": "warning", "fail": "error"}
# Quotes pair left to right, short ones included, so that a short quotation
# never lends its closing mark to the next one; only the longer ones are looked up.
_QUOTED = re.compile(r'"([^"\n]+)"|“([^”\n]+)”|`([^`\n]+)`')
_SHORTEST_QUOTE = 4


def render_sarif(data: ReportData) -> dict[str, object]:
    """The SARIF log; locations are relative to the repository root."""
    gate_index = {g.gate_id: i for i, g in enumerate(data.gates)}
    results = []
    for cell in data.cells:
        review = cell.review
        if review is None or review.decision not in _LEVELS:
            continue
        findings = [(f.severity, f.text) for f in review.findings if f.severity in _LEVELS]
        if not findings:
            findings = [(review.decision, _summary(review.rationale_markdown, cell))]
        note = data.note_files.get(cell.note_path)
        for severity, text in findings:
            results.append(
                _result(
                    cell,
                    severity,
                    text,
                    gate_index,
                    None if note is None else note.text,
                    data.repo_prefix,
                )
            )
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "commonplace-review",
                        "version": _version(),
                        "rules": [
                            {
                                "id": g.gate_id,
                                "name": g.gate_id.replace("/", "."),
                                "shortDescription": {"text": g.description or g.gate_id},
                                "properties": {"lens": g.lens},
                            }
                            for g in data.gates
                        ],
                    }
                },
                "automationDetails": {"id": f"commonplace-review/{data.model_id}/"},
                "properties": {"model_id": data.model_id, "generated_at": data.generated_at},
                "results": results,
            }
        ],
    }


def _result(
    cell: Cell,
    severity: str,
    text: str,
    gate_index: dict[str, int],
    note_text: str | None,
    uri_prefix: str,
) -> dict[str, object]:
    review = cell.review
    assert review is not None
    region = _line_of(text, note_text)
    location: dict[str, object] = {"artifactLocation": {"uri": uri_prefix + cell.note_path}}
    if region is not None:
        location["region"] = {"startLine": region}
    words = " ".join(text.lower().split())
    digest = hashlib.sha256(f"{cell.note_path}\0{cell.gate_id}\0{words}".encode()).hexdigest()
    return {
        "ruleId": cell.gate_id,
        "ruleIndex": gate_index[cell.gate_id],
        "level": _LEVELS[severity],
        "message": {"text": text},
        "locations": [{"physicalLocation": location}],
        "partialFingerprints": {FINGERPRINT: digest[:32]},
        "properties": {
            "decision": review.decision,
            "state": cell.state,
            "gate_review_id": review.gate_review_id,
            "review_run_id": review.review_run_id,
            "acceptance_kind": review.acceptance_kind,
        },
    }


def _line_of(text: str, note_text: str | None) -> int | None:
    """The line of the note where the first text the finding quotes is found."""
    if not note_text:
        return None
    for match in _QUOTED.finditer(text):
        quoted = next(g for g in match.groups() if g is not None).strip()
        if len(quoted) < _SHORTEST_QUOTE:
            continue
        at = note_text.find(quoted)
        if at >= 0:
            return note_text.count("\n", 0, at) + 1
    return None


def _summary(rationale: str, cell: Cell) -> str:
    for line in rationale.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            return line
    return f"{cell.gate_id}: {cell.decision}"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("commonplace-review")
    except PackageNotFoundError:
        return "0"
