"""The HTML report (SPEC 12): its markup, checked as text, and the page as a real
browser renders it: headless Chromium dumps the DOM after the script ran, takes
screenshots at desktop and phone sizes, and logs every console message and
network request the page makes, of which there must be none.

UPDATE_SCREENSHOTS=1 copies the two screenshots of the example KB's report into
docs/ (docs/report-screenshot.png and docs/report-screenshot-phone.png).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from helpers.browser import Parsed, browse, png_size
from helpers.commands import run_script
from helpers.kb import EXAMPLE_KB, GIT_IDENTITY, REPO, commit_all, make_git_kb
from helpers.store import ABBREV, SEEDS, SKETCH, TAGS
from hypothesis import given, settings
from hypothesis import strategies as st

from commonplace.protocol.decisions import Finding
from commonplace.reports.cost import TOKEN_KINDS, CostLine, CostSummary
from commonplace.reports.data import Cell, GateInfo, ReportData, gather
from commonplace.reports.html import render_html
from commonplace.services.current import CurrentReview
from commonplace.workspace import open_workspace

NEW_NOTE = "kb/notes/mulch-keeps-beds-moist.md"
HOSTILE = "</pre></textarea><script>alert('x')</script><!-- & \"quoted\" 'single'"


# ---------------------------------------------------------------- the data


@dataclass(frozen=True)
class Example:
    kb: Path
    data: ReportData
    html: str


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Example]:
    """The example KB reviewed by the stand-in reviewer in two partitions, then
    changed so that every kind of staleness shows: a note edited, a gate edited,
    a new note, and a gate with uncommitted changes."""
    tmp = tmp_path_factory.mktemp("example")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("COMMONPLACE_REVIEW_DB", raising=False)
        mp.setenv("HOME", str(tmp / "home"))
        for key, value in GIT_IDENTITY.items():
            mp.setenv(key, value)
        kb = make_git_kb(EXAMPLE_KB, tmp / "example-kb")
        sweep = ["--runner", "stand-in", "--jobs", "4"]
        for extra in (["--model", "demo"], ["--model", "other-model", "--note", SKETCH]):
            done = run_script("commonplace-review-sweep", [*sweep, *extra], cwd=kb)
            assert done.returncode == 0, done.stderr
        _append(kb / SEEDS, "Later: the GDD total is growing degree days.\n")
        _append(kb / f"kb/instructions/review-gates/{ABBREV}.md", "\nAlso check headings.\n")
        (kb / NEW_NOTE).write_text(
            "---\ndescription: Mulch keeps beds moist\ntype: kb/types/note.md\ntraits: []\n"
            "tags: [beds]\nstatus: current\n---\n\n# Mulch keeps beds moist\n\nStraw works.\n",
            encoding="utf-8",
        )
        commit_all(kb, "later changes")
        _append(kb / f"kb/instructions/review-gates/{TAGS}.md", "\nUncommitted.\n")
        data = gather(open_workspace(cwd=kb), model="demo")
        yield Example(kb, data, render_html(data))


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


def review(
    note: str,
    gate: str,
    decision: str = "pass",
    rationale: str = "## Result: PASS\n",
    findings: tuple[Finding, ...] = (),
) -> CurrentReview:
    return CurrentReview(
        note_path=note,
        gate_id=gate,
        model_id="m-1",
        decision=decision,
        findings=findings,
        rationale_markdown=rationale,
        gate_review_id=7,
        review_run_id=3,
        reviewed_at="2024-05-01T10:00:00.000Z",
        reviewed_note_sha="a" * 40,
        acceptance_kind="full-review",
        current_note_sha="a" * 40,
    )


def no_cost() -> CostSummary:
    return CostSummary(CostLine("total", 0), (), (), (), ())


def synthetic(cells: tuple[Cell, ...] = (), cost: CostSummary | None = None) -> ReportData:
    notes = tuple(dict.fromkeys(c.note_path for c in cells))
    gates = tuple(GateInfo(g, f"checks {g}") for g in sorted({c.gate_id for c in cells}))
    return ReportData(
        model_id="m-1",
        generated_at="2024-05-02T08:30:00.000Z",
        kb_name="kb <&>",
        notes=notes,
        gates=gates,
        cells=cells,
        partitions=("m-1", "other"),
        cost=cost or no_cost(),
    )


# ---------------------------------------------------------------- markup


def payload(html: str) -> dict[str, Any]:
    """The page's data block, decoded."""
    found = re.search(
        r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S
    )
    assert found is not None
    decoded = json.loads(found.group(1))
    assert isinstance(decoded, dict)
    return decoded


def pairs_of(html: str) -> list[tuple[str, str, str, str]]:
    """(note, gate, decision, state) of every applicable pair in the data block."""
    data = payload(html)
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    found = []
    for note, row in zip(data["notes"], data["rows"], strict=True):
        assert len(row) == len(data["gates"])
        for (gate, _), char in zip(data["gates"], row, strict=True):
            if char != "-":
                d, st = data["codes"][alphabet.index(char)]
                found.append((note, gate, data["decisions"][d][0], data["states"][st][0]))
    return found


def reviewed_texts(html: str) -> dict[tuple[str, str], tuple[str, list[tuple[str, str]]]]:
    """(note, gate) -> (rationale, findings) of every review in the data block."""
    data = payload(html)
    texts = data["texts"]
    return {
        (data["notes"][r[0]], data["gates"][r[1]][0]): (
            texts[r[2]],
            [(texts[sev], texts[t]) for sev, t in data["findings"][r[3]]],
        )
        for r in data["reviews"]
    }


def test_example_report_has_a_cell_per_applicable_pair(example: Example) -> None:
    data, page = example.data, Parsed(example.html)
    assert {c.state for c in data.cells} == {
        "fresh",
        "note-changed",
        "gate-changed",
        "gate-dirty",
        "missing-review",
    }
    assert pairs_of(example.html) == [
        (c.note_path, c.gate_id, c.decision, c.state) for c in data.cells
    ]
    assert page.cells() == []  # the script renders the rows
    # every review is in the data block, whole; pairs never reviewed have none
    assert reviewed_texts(example.html) == {
        (c.note_path, c.gate_id): (
            c.review.rationale_markdown,
            [(f.severity or "note", f.text) for f in c.review.findings],
        )
        for c in data.cells
        if c.review is not None
    }
    # the head has one column per gate, grouped by lens
    heads = [a["data-gate"] for t, a in page.elements if t == "th" and "data-gate" in a]
    assert heads == [g.gate_id for g in data.gates]


def test_header_counts_and_partitions(example: Example) -> None:
    assert {c.decision for c in example.data.cells} == {"pass", "warn", "never-reviewed"}
    counted = re.findall(r'<li data-(decision|state)="([^"]+)">.*?<b>(\d+)</b></li>', example.html)
    assert {(kind, key): int(n) for kind, key, n in counted} == {
        **{("decision", k): n for k, n in Counter(c.decision for c in example.data.cells).items()},
        **{("state", k): n for k, n in Counter(c.state for c in example.data.cells).items()},
    }
    assert example.data.partitions == ("demo-reviewer-1", "other-model")
    assert "<dt>Other partitions</dt><dd><code>other-model</code></dd>" in example.html
    assert "<dt>Partition</dt><dd><code>demo-reviewer-1</code></dd>" in example.html


def test_the_page_references_nothing_outside_itself(example: Example) -> None:
    html = example.html
    page = Parsed(html)
    assert not [t for t, _ in page.elements if t in ("link", "img", "iframe", "object")]
    # one inline script, and the data it renders from
    assert [a for t, a in page.elements if t == "script"] == [
        {"type": "application/json", "id": "report-data"},
        {},
    ]
    refs = [v for _, a in page.elements for k, v in a.items() if k in ("src", "href")]
    assert refs and not [a for _, a in page.elements if "src" in a]
    # links within the page, or (fix first) to the KB's note and gate files,
    # which a reader follows and the page never loads
    files = [v for v in refs if not v.startswith("#")]
    assert files and all((example.kb / v).is_file() for v in files)
    assert not re.search(r"https?:|//[a-z]|url\(", html, re.IGNORECASE)


def test_the_policy_allows_exactly_the_inline_style_and_script(example: Example) -> None:
    """The Content-Security-Policy names the hashes of the page's own style and
    script, so nothing else can run or load, not even an injected script."""
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', example.html)
    assert policy is not None
    style = re.search(r"<style>(.*?)</style>", example.html, re.DOTALL)
    script = re.search(r"<script>(.*?)</script>", example.html, re.DOTALL)
    assert style is not None and script is not None
    assert policy.group(1) == (
        f"default-src 'none'; style-src '{_sha(style.group(1))}';"
        f" script-src '{_sha(script.group(1))}'; base-uri 'none'; form-action 'none'"
    )


def test_rationale_and_every_name_are_escaped() -> None:
    note = 'kb/notes/<b>bold</b> & "café" ü.md'
    finding = Finding("warn", "quote </textarea><script>")
    data = synthetic(
        (
            Cell(
                note,
                "lens/<gate>",
                "note-changed",
                review(note, "lens/<gate>", "warn", HOSTILE, (finding,)),
            ),
        )
    )
    html = render_html(data)
    assert html.count("<script") == 2 and "<b>bold" not in html and "<gate>" not in html
    assert "</textarea>" not in html and "<!-- &" not in html
    assert pairs_of(html) == [(note, "lens/<gate>", "warn", "note-changed")]
    assert reviewed_texts(html) == {(note, "lens/<gate>"): (HOSTILE, [("warn", finding.text)])}
    assert "kb <&>" in "".join(Parsed(html).text["span"])


def test_unicode_survives() -> None:
    note = "kb/notes/höhe-über-null-日本.md"
    rationale = "Größe 🌱 — “quoted”\n## Result: PASS\n"
    html = render_html(
        synthetic((Cell(note, "l/g", "fresh", review(note, "l/g", rationale=rationale)),))
    )
    assert '<meta charset="utf-8">' in html
    assert reviewed_texts(html) == {(note, "l/g"): (rationale, [])}
    assert pairs_of(html)[0][0] == note


def test_empty_report_says_so() -> None:
    html = render_html(synthetic())
    assert "No applicable pairs to show." in html
    assert "No batch has reported telemetry yet." in html
    assert "0 applicable pairs" in html and Parsed(html).cells() == []


def test_never_reviewed_and_unusual_decisions() -> None:
    cells = (
        Cell("n.md", "l/a", "missing-review", None),
        Cell("n.md", "l/b", "gate-dirty", review("n.md", "l/b", "error")),
        Cell("n.md", "l/c", "some-new-reason", review("n.md", "l/c", "unknown")),
    )
    html = render_html(synthetic(cells))
    assert [p[2:] for p in pairs_of(html)] == [
        ("never-reviewed", "missing-review"),
        ("error", "gate-dirty"),
        ("unknown", "some-new-reason"),
    ]
    assert '<li data-state="some-new-reason">' in html


def test_cost_panel_tables_and_unreported_cost() -> None:
    tokens = dict.fromkeys(TOKEN_KINDS, 0.0) | {"input": 12345.0, "output": 678.4}
    line = CostLine("x", 2, tokens, 1.5)
    cost = CostSummary(
        total=CostLine("total", 3, tokens, 1.5),
        by_partition=(replace(line, key="m-1"), CostLine("other", 1, {}, None)),
        by_gate=(replace(line, key="lens/a", cost_usd=0.01234),),
        by_runner=(replace(line, key="claude-code"),),
        by_day=(replace(line, key="2024-05-01"),),
    )
    html = render_html(synthetic(cost=cost))
    tables = re.findall(r'<table class="cost" data-by="(\w+)">', html)
    assert tables == ["partition", "gate", "runner", "day"]
    assert "3 batches, 13,023 tokens, cost $1.50." in html
    assert "12,345" in html and ">678<" in html
    assert "$0.0123" in html
    assert ">not reported<" in html
    assert "m-1 (this report)" in html
    assert html.count("<tfoot>") == 4
    assert "counted once per batch" in html and "in proportion to its pairs" in html


# ---------------------------------------------------------------- the browser


def with_probe(html: str, probe: str) -> str:
    """The page with a test script appended and allowed by its policy; the
    script leaves its findings as JSON in <pre id="probe">."""
    allowed = html.replace("script-src '", f"script-src '{_sha(probe)}' '", 1)
    return allowed.replace("</body>", f"<script>{probe}</script></body>", 1)


def probe_result(dom: str) -> dict[str, object]:
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.DOTALL)
    assert found is not None, dom[-2000:]
    parser = Parsed(found.group(0))
    result = json.loads("".join(parser.text["pre"]))
    assert isinstance(result, dict)
    return result


def _sha(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def test_checker_catches_page_errors_and_requests(chromium: str, tmp_path: Path) -> None:
    page = tmp_path / "bad.html"
    page.write_text(
        '<!doctype html><p>x</p><img src="http://example.invalid/a.png">'
        '<script>throw new Error("x")</script>',
        encoding="utf-8",
    )
    seen = browse(chromium, page, tmp_path / "bad")
    assert any("Uncaught Error: x" in m and page.as_uri() in m for m in seen.console)
    assert seen.requests == ("http://example.invalid/a.png",)


def test_browser_renders_the_example_report(
    chromium: str, example: Example, tmp_path: Path
) -> None:
    report = tmp_path / "report.html"
    report.write_text(example.html, encoding="utf-8")
    seen = browse(chromium, report, tmp_path / "b")
    assert seen.console == () and seen.requests == ()
    dom = Parsed(seen.dom)
    assert [(c["data-note"], c["data-gate"]) for c in dom.cells()] == [
        (c.note_path, c.gate_id) for c in example.data.cells
    ]
    rows = {a["data-note"] for t, a in dom.elements if t == "tr" and "data-note" in a}
    assert rows == set(example.data.notes)
    titles = {a["title"] for t, a in dom.elements if t == "th" and "data-gate" in a}
    assert {t.split(":")[0] for t in titles} == {g.gate_id for g in example.data.gates}
    # the script ran: it showed the filters and filled in the count
    box = next(a for t, a in dom.elements if a.get("id") == "filter-box")
    assert "hidden" not in box
    assert f'<output id="shown" aria-live="polite">{len(example.data.cells)} pairs' in seen.dom


def test_browser_opens_a_cell_named_in_the_fragment(
    chromium: str, example: Example, tmp_path: Path
) -> None:
    cell = next(c for c in example.data.cells if c.decision == "warn")
    assert cell.review is not None
    report = tmp_path / "report.html"
    report.write_text(example.html, encoding="utf-8")
    fragment = "#cell=" + quote(f"{cell.note_path}::{cell.gate_id}", safe="")
    seen = browse(chromium, report, tmp_path / "b", fragment=fragment)
    assert seen.console == () and seen.requests == ()
    dialog = re.search(r'<dialog id="detail"([^>]*)>(.*?)</dialog>', seen.dom, re.DOTALL)
    assert dialog is not None and "open" in dialog.group(1)
    opened = Parsed(dialog.group(2))
    assert "".join(opened.text["pre"]) == cell.review.rationale_markdown
    assert f'data-note="{cell.note_path}" data-gate="{cell.gate_id}"' in dialog.group(2)
    assert 'id="detail-title"' in dialog.group(2)


def hostile_data() -> ReportData:
    note = "kb/notes/<img src=x onerror=alert(1)>.md"
    cell = Cell(note, "l/g", "note-changed", review(note, "l/g", "warn", HOSTILE))
    return synthetic((cell,))


@pytest.mark.parametrize("make", [synthetic, hostile_data], ids=["empty", "hostile"])
def test_browser_loads_edge_cases_cleanly(
    chromium: str, tmp_path: Path, make: Callable[[], ReportData]
) -> None:
    """An empty report runs its script without error; a hostile one shows its
    text as text (an injected script would also be refused by the policy, and
    that refusal would be a console message)."""
    data = make()
    report = tmp_path / "report.html"
    report.write_text(render_html(data), encoding="utf-8")
    fragment = "".join(  # opens the hostile review, text and all, in the dialog
        "#cell=" + quote(f"{c.note_path}::{c.gate_id}", safe="") for c in data.cells
    )
    seen = browse(chromium, report, tmp_path / "b", fragment=fragment)
    assert seen.console == () and seen.requests == ()
    dom = Parsed(seen.dom)
    assert [a for t, a in dom.elements if t in ("img", "script")] == [
        {"type": "application/json", "id": "report-data"},
        {},
    ]
    assert "".join(dom.text.get("pre", [])) == "".join(
        c.review.rationale_markdown for c in data.cells if c.review
    )
    rows = [a["data-note"] for t, a in dom.elements if t == "tr" and "data-note" in a]
    assert rows == list(data.notes)


PROBE = """
(() => {
  const out = {};
  const de = document.documentElement;
  out.pageOverflow = de.scrollWidth - de.clientWidth;
  const scroller = document.querySelector("#matrix .scroll");
  out.matrixScrolls = scroller.scrollWidth > scroller.clientWidth;
  out.noteColumn = getComputedStyle(document.querySelector(".matrix tbody th")).position;
  const shown = () => Array.from(document.querySelectorAll("td[data-decision]"))
    .filter((td) => !td.classList.contains("off") && td.offsetParent !== null).length;
  const set = (name, value, on) => {
    const box = document.querySelector(`#filters input[name=${name}][value="${value}"]`);
    box.checked = on;
    box.dispatchEvent(new Event("change", {bubbles: true}));
  };
  out.all = shown();
  set("decision", "pass", false);
  out.withoutPass = shown();
  out.count = document.getElementById("shown").value;
  set("lens", "b", false);
  out.withoutLensB = shown();
  out.hiddenGates = document.querySelectorAll("th.g.x").length;
  out.rows = document.querySelectorAll("tbody tr[data-note]").length;
  document.querySelector("button[data-preset=clear]").click();
  out.afterClear = shown();
  document.querySelector("button[data-preset=stale]").click();
  out.stale = shown();
  document.querySelector("button[data-preset=clear]").click();
  document.querySelector('td[data-decision="fail"] a').click();
  const dialog = document.getElementById("detail");
  out.dialogOpen = dialog.open;
  out.dialogText = dialog.querySelector("pre").textContent;
  out.hash = decodeURIComponent(location.hash);
  dialog.addEventListener("close", () => {  // after the page's own listener
    out.closed = !dialog.open && location.hash === "";
    const pre = document.createElement("pre");
    pre.id = "probe";
    pre.textContent = JSON.stringify(out);
    document.body.append(pre);
  });
  dialog.querySelector("[data-close]").click();
})();
"""


def wide_data() -> ReportData:
    """Three notes by 36 gates in three lenses, too wide for a phone, and wide
    cost tables."""
    cells = []
    for n, note in enumerate(("kb/notes/first.md", "kb/notes/second.md", "kb/notes/third.md")):
        for g in range(36):
            gate = f"{'abc'[g % 3]}/gate-{g:02d}"
            if n == 2 and gate.startswith("b/"):
                continue  # lens b does not apply to the third note
            decision = "fail" if (n, g) == (1, 4) else "pass" if g % 5 or n == 2 else "warn"
            state = "note-changed" if n == 0 else "fresh"
            rationale = f"rationale of {note} {gate}\n## Result: {decision.upper()}\n"
            cells.append(Cell(note, gate, state, review(note, gate, decision, rationale)))
    tokens = dict.fromkeys(TOKEN_KINDS, 123456789.0)
    line = CostLine("a-partition-with-a-rather-long-name-xhigh", 9, tokens, 1234.5)
    cost = CostSummary(replace(line, key="total"), (line,), (line,), (line,), (line,))
    return synthetic(tuple(sorted(cells, key=lambda c: (c.note_path, c.gate_id))), cost)


def test_browser_phone_layout_filters_and_click(chromium: str, tmp_path: Path) -> None:
    data = wide_data()
    report = tmp_path / "report.html"
    report.write_text(with_probe(render_html(data), PROBE), encoding="utf-8")
    seen = browse(chromium, report, tmp_path / "b", window=(390, 844))
    assert seen.console == () and seen.requests == ()
    result = probe_result(seen.dom)
    total = len(data.cells)
    passes = sum(c.decision == "pass" for c in data.cells)
    not_pass_b = sum(c.decision != "pass" and c.lens != "b" for c in data.cells)
    assert result == {
        "pageOverflow": 0,
        "matrixScrolls": True,
        "noteColumn": "sticky",
        "all": total,
        "withoutPass": total - passes,
        "count": f"{total - passes} of {total} pairs shown",
        "withoutLensB": not_pass_b,
        "hiddenGates": 36
        - len({c.gate_id for c in data.cells if c.decision != "pass" and c.lens != "b"}),
        "rows": 2,  # the third note has no cell left to show
        "afterClear": total,
        "stale": sum(c.state != "fresh" for c in data.cells),
        "dialogOpen": True,
        "dialogText": "rationale of kb/notes/second.md b/gate-04\n## Result: FAIL\n",
        "hash": "#cell=kb/notes/second.md::b/gate-04",
        "closed": True,
    }


@pytest.mark.parametrize(
    ("window", "name"),
    [((1280, 900), "report-screenshot.png"), ((390, 844), "report-screenshot-phone.png")],
)
def test_browser_screenshots(
    chromium: str, example: Example, tmp_path: Path, window: tuple[int, int], name: str
) -> None:
    report = tmp_path / "report.html"
    report.write_text(example.html, encoding="utf-8")
    shot = tmp_path / name
    seen = browse(chromium, report, tmp_path / "b", window=window, screenshot=shot)
    assert seen.console == () and seen.requests == ()
    assert png_size(shot) == window
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(shot, REPO / "docs" / name)


# ---------------------------------------------------------------- the data block


@settings(max_examples=150, deadline=None)
@given(
    rationale=st.text(),
    finding=st.text(alphabet=st.sampled_from("<>/&'\"\u2028\u2029 sScriptSCRIPT!-[]x")),
    name=st.text(min_size=1),
)
def test_no_review_text_ends_the_data_block(rationale: str, finding: str, name: str) -> None:
    """Whatever a review or a note name holds, the page keeps exactly its own
    two script elements, and the data block reads back to the same texts."""
    note = f"kb/notes/{name}.md"
    cell = Cell(
        note, "l/g", "fresh", review(note, "l/g", "warn", rationale, (Finding("warn", finding),))
    )
    html = render_html(synthetic((cell,)))
    assert html.lower().count("<script") == 2 and html.lower().count("</script") == 2
    block = html.split('id="report-data">', 1)[1].split("</script>", 1)[0]
    assert not set(block) & {"<", ">", "&", "\u2028", "\u2029"}
    assert reviewed_texts(html) == {(note, "l/g"): (rationale, [("warn", finding)])}
