"""The gate-health panel and JSON from hand-made data: hostile gate ids, notes
and partition names are escaped; calibration figures and label
disagreements (computed by `calibrate` and `label`, given to the report as
plain data) are shown only when present; the links are capped."""

from __future__ import annotations

import dataclasses
import json
import re
from html import unescape
from html.parser import HTMLParser
from urllib.parse import unquote

from commonplace.reports.cost import CostLine, CostSummary
from commonplace.reports.data import GateInfo, ReportData
from commonplace.reports.gate_health import (
    CALIBRATION_STALE,
    LABEL_DISAGREEMENTS_CAP,
    Calibration,
    gate_health,
)
from commonplace.reports.gate_health_html import LINKS, render_gate_health
from commonplace.reports.html import render_html
from commonplace.services.agreement import Agreement, Disagreement, Firing, GateQuality
from commonplace.services.labels import LabelDisagreement

HOSTILE = 'lens/<img src=x onerror="alert(1)">&'
NOTE = 'kb/notes/<script>alert("n")</script>.md'
OTHER = "other<b>m</b>"
ZERO = {d: {e: 0 for e in ("pass", "warn", "fail")} for d in ("pass", "warn", "fail")}


def data(**extra: object) -> ReportData:
    disagreements = tuple(Disagreement(f"{NOTE}-{k}", "fail", "pass") for k in range(LINKS + 2))
    quality = GateQuality(
        firing=(Firing(HOSTILE, "m-1", 12, 0, 12), Firing("plain/gate", "m-1", 3, 1, 0)),
        agreements=(Agreement(HOSTILE, "m-1", OTHER, 20, 11, 0.1, ZERO, disagreements, 2),),
    )
    base = ReportData(
        model_id="m-1",
        generated_at="2024-05-02T08:30:00.000Z",
        kb_name="kb",
        notes=(),
        gates=(GateInfo(HOSTILE, "hostile"), GateInfo("plain/gate", "plain")),
        cells=(),
        partitions=("m-1", OTHER),
        cost=CostSummary(CostLine("total", 0), (), (), (), ()),
        gate_quality=quality,
    )
    return dataclasses.replace(base, **extra)  # type: ignore[arg-type]


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)


def tags(html: str) -> set[str]:
    parser = Tags()
    parser.feed(html)
    return set(parser.tags)


def test_hostile_names_are_escaped_and_links_capped() -> None:
    section = render_gate_health(data())
    assert tags(section) <= {"section", "h2", "p", "div", "table", "thead", "tbody", "tr",
                             "th", "td", "code", "span", "ul", "li", "a"}  # fmt: skip
    assert "<img" not in section and "<script" not in section and "<b>" not in section
    assert unescape(section).count(HOSTILE) >= 1
    links = re.findall(r'href="(#cell=[^"]+)"', section)
    assert len(links) == LINKS
    assert unquote(unescape(links[0])) == f"#cell={NOTE}-0::{HOSTILE}"
    assert "and 4 more" in section  # 2 beyond the links shown, 2 beyond the stored cap
    assert "examples" not in section and "people disagree" not in section  # none given
    assert "55% agree" in unescape(section) and "κ 0.10" in unescape(section)
    assert "always-fires" in section


def test_calibration_and_label_disagreements_are_shown_when_given() -> None:
    calibration = (
        Calibration(HOSTILE, "m-1", 6, 5 / 6, 1.0, 0.25, {"pass": {"fail": 1}}, stale=True),
        Calibration(HOSTILE, OTHER, 6, 0.5, 0.5, 0.5, {}),  # another partition: not shown
    )
    labels = tuple(
        LabelDisagreement(
            note_path=f"{NOTE}{k:02}",
            gate_id="plain/gate",
            label_decision="fail",
            label_why=None,
            label_uid=f"{k:032}",
            labeller="a person",
            note_sha="n" * 40,
            gate_sha="g" * 40,
            model_id="m-1",
            model_decision="pass",
            gate_review_id=k + 1,
            review_run_id=k + 1,
        )
        for k in range(LABEL_DISAGREEMENTS_CAP + 3)
    )
    given = data(calibration=calibration, label_disagreements=labels)
    rows = {h.gate_id: h for h in gate_health(given)}
    assert rows[HOSTILE].flags == ("always-fires", CALIBRATION_STALE)
    assert rows[HOSTILE].calibration == calibration[0]
    assert rows["plain/gate"].calibration is None
    assert len(rows["plain/gate"].label_disagreements) == LABEL_DISAGREEMENTS_CAP
    assert rows["plain/gate"].more_label_disagreements == 3

    section = render_gate_health(given)
    assert "<script" not in section
    hostile_row = re.search(r'<tr data-gate="lens/&lt;img.*?</tr>', section)
    assert hostile_row is not None
    text = unescape(re.sub(r"<[^>]+>", " ", hostile_row.group(0)))
    for figure in ("83%", "100%", "25%", "stale"):
        assert figure in text
    assert "and 3 more" in section and "label fail, m-1 pass" in unescape(section)

    payload = json.loads(json.dumps([h.as_dict() for h in gate_health(given)]))
    first = payload[0]
    assert first["calibration"]["accuracy"] == 5 / 6 and first["calibration"]["stale"] is True
    assert first["flags"] == ["always-fires", CALIBRATION_STALE]
    assert first["agreement"][0]["model_b"] == OTHER
    assert first["agreement"][0]["more_disagreements"] == 2
    label = payload[1]["label_disagreements"][0]
    assert (label["label"], label["model"]) == ("fail", "pass")
    assert unquote(label["cell"]) == f"#cell={NOTE}00::plain/gate"


def test_the_page_has_the_panel_between_fix_first_and_the_matrix() -> None:
    page = render_html(data())
    assert page.index('id="fix-first"') < page.index('id="gate-health"') < page.index('id="matrix"')
