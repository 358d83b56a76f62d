"""The HTML report of the 10,000-note by 40-gate synthetic KB, with a couple of
thousand reviews in the store (accepted through the lifecycle, as
benchmarks/report_scale.py does): it opens in headless Chromium without a
console message, keeps only the rows on screen in the DOM, scrolls to the
last note, and opens one of its reviews. Checked in the DOM, over the
DevTools protocol."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers.devtools import DevTools
from helpers.kb import REPO

from commonplace.reports.data import ReportData, gather
from commonplace.reports.html import iter_html
from commonplace.workspace import open_workspace


@dataclass(frozen=True)
class Scale:
    page: Path
    data: ReportData
    size: int


@pytest.fixture(scope="module")
def scale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scale]:
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from generate_kb import generate
        from report_scale import MODEL, fill
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    tmp = tmp_path_factory.mktemp("scale")
    kb, db = tmp / "kb", tmp / "store.sqlite"
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("COMMONPLACE_REVIEW_DB", raising=False)
        mp.setenv("HOME", str(tmp / "home"))
        generate(kb)
        reviewed, _ = fill(kb, db, 2600, 25, seed=5)
        assert reviewed >= 2000
        ws = open_workspace(db=str(db), cwd=kb)
        data = gather(ws, model=MODEL)
        ws.store.close()
    page = tmp / "report.html"
    with page.open("w", encoding="utf-8") as out:
        for piece in iter_html(data):
            out.write(piece)
    yield Scale(page, data, page.stat().st_size)


SCROLL = """
new Promise((done) => {
  const scroller = document.querySelector("#matrix .scroll");
  scroller.scrollTop = TARGET;
  scroller.dispatchEvent(new Event("scroll"));
  requestAnimationFrame(() => requestAnimationFrame(() => done(JSON.stringify({
    rows: Array.from(document.querySelectorAll("#matrix tbody tr[data-note]"),
      (tr) => tr.dataset.note),
    cells: document.querySelectorAll("#matrix td[data-decision]").length,
  }))));
})
"""

OPEN_LAST_REVIEW = """
(() => {
  const rows = document.querySelectorAll("#matrix tbody tr[data-note]");
  const last = rows[rows.length - 1];
  const td = last.querySelector('td[data-decision]:not([data-decision="never-reviewed"])');
  td.querySelector("a").click();
  const dialog = document.getElementById("detail");
  return JSON.stringify({
    open: dialog.open, note: td.dataset.note, gate: td.dataset.gate,
    title: dialog.querySelector("h3").id,
    pre: dialog.querySelector("pre").textContent,
    hash: decodeURIComponent(location.hash),
  });
})()
"""


def test_the_10k_report_opens_scrolls_and_shows_a_review(
    chromium: str, scale: Scale, tmp_path: Path
) -> None:
    data = scale.data
    assert len(data.notes) == 10_000 and len(data.gates) >= 40  # and type gates
    assert sum(c.review is not None for c in data.cells) >= 2000
    assert scale.size < 5_000_000
    with DevTools(chromium, tmp_path / "profile") as browser:
        browser.load(scale.page.as_uri())
        first = json.loads(browser.evaluate(SCROLL.replace("TARGET", "0")))
        assert first["rows"][0] == data.notes[0]
        assert len(first["rows"]) < 100  # only what is on screen, not 10,000 rows
        end = json.loads(browser.evaluate(SCROLL.replace("TARGET", "scroller.scrollHeight")))
        assert end["rows"][-1] == data.notes[-1] and len(end["rows"]) < 100
        assert 0 < end["cells"] < 100 * len(data.gates)
        opened = json.loads(browser.evaluate(OPEN_LAST_REVIEW))
        assert browser.errors() == []
    reviews = {(c.note_path, c.gate_id): c.review for c in data.cells if c.review is not None}
    review = reviews[(opened["note"], opened["gate"])]
    assert opened["note"] == data.notes[-1]
    assert opened["open"] and opened["title"] == "detail-title"
    assert opened["pre"] == review.rationale_markdown
    assert opened["hash"] == f"#cell={opened['note']}::{opened['gate']}"
