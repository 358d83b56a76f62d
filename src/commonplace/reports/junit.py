"""JUnit XML (SPEC 12): one test case per reviewed pair of the partition, in
one suite per note, as CI tools read it: `fail` is a failure, `error` and
`unknown` an error, `warn` passes with a `decision` property (and its
findings on system-out); staleness is a property too."""

from __future__ import annotations

import re
from xml.etree import ElementTree as ET

from commonplace.reports.data import Cell, ReportData
from commonplace.reports.pairs import reviewed_cells

_PROBLEMS = {"fail": "failure", "error": "error", "unknown": "error"}
# Characters XML 1.0 cannot carry (a review may hold a terminal's escape codes).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def render_junit(data: ReportData) -> str:
    reviewed = list(reviewed_cells(data.cells))
    suites = ET.Element("testsuites", name=f"commonplace-review {data.model_id}")
    by_note: dict[str, list[Cell]] = {}
    for cell in reviewed:
        by_note.setdefault(cell.note_path, []).append(cell)
    for note_path, cells in by_note.items():
        suite = ET.SubElement(suites, "testsuite", name=note_path, timestamp=data.generated_at)
        for cell in cells:
            _case(suite, cell, data.model_id)
        _count(suite, cells)
    _count(suites, reviewed)
    ET.indent(suites)
    for element in suites.iter():
        if element.text:
            element.text = _xml(element.text)
        for name, value in element.attrib.items():
            element.set(name, _xml(value))
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, "unicode") + "\n"


def _xml(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _case(suite: ET.Element, cell: Cell, model_id: str) -> None:
    review = cell.review
    assert review is not None
    case = ET.SubElement(suite, "testcase", classname=cell.note_path, name=cell.gate_id)
    properties = ET.SubElement(case, "properties")
    for name, value in (
        ("decision", review.decision),
        ("state", cell.state),
        ("model_id", model_id),
        ("acceptance_kind", review.acceptance_kind),
        ("gate_review_id", str(review.gate_review_id)),
        ("reviewed_at", review.reviewed_at),
    ):
        ET.SubElement(properties, "property", name=name, value=value)
    problem = _PROBLEMS.get(review.decision)
    findings = [f for f in review.findings if f.severity in ("warn", "fail")]
    if problem is not None:
        first = findings[0].text if findings else f"{review.decision}: {cell.gate_id}"
        element = ET.SubElement(case, problem, message=first, type=review.decision)
        element.text = review.rationale_markdown
    elif review.decision == "warn":
        out = ET.SubElement(case, "system-out")
        out.text = (
            "\n".join(f"{f.severity}: {f.text}" for f in findings) or review.rationale_markdown
        )


def _count(element: ET.Element, cells: list[Cell]) -> None:
    decisions = [c.review.decision for c in cells if c.review is not None]
    element.set("tests", str(len(decisions)))
    element.set("failures", str(decisions.count("fail")))
    element.set("errors", str(decisions.count("error") + decisions.count("unknown")))
    element.set("skipped", "0")
