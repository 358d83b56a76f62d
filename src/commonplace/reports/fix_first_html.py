"""The "fix first" panel of the HTML report: the notes to fix, most failures
first, each pair with its findings and suggested revision rendered from the
reviewer's Markdown (safely: `markdown_html`), and the gates by fail rate.
The whole review stays in the matrix's entry for the pair.
Links go to the note and gate files (`ReportData.links`)."""

from __future__ import annotations

from html import escape

from commonplace.reports.data import FRESH, ReportData
from commonplace.reports.fix_first import FixFirst, FixItem, GateToFix, NoteToFix, fix_first
from commonplace.reports.markdown_html import render

OPEN_NOTES = 5  # the first notes are shown open; the rest one click away
SYMBOLS = {"fail": "✗", "warn": "!"}


def render_fix_first(data: ReportData, view: FixFirst | None = None) -> str:
    view = view if view is not None else fix_first(data)
    if not view.notes:
        body = "<p>No accepted review fails or warns in this partition.</p>"
    else:
        notes = "".join(_note(data, n, open_=k < OPEN_NOTES) for k, n in enumerate(view.notes))
        body = (
            '<h3 id="fix-notes-title">Notes</h3>'
            f'<ol class="fix-notes" aria-labelledby="fix-notes-title">{notes}</ol>'
            + _more(view.more_notes, "note")
            + '<h3 id="fix-gates-title">Gates by fail rate</h3>'
            + _gates(data, view.gates)
            + _more(view.more_gates, "gate")
        )
    return (
        '<section class="panel" id="fix-first" aria-labelledby="fix-first-title">'
        '<h2 id="fix-first-title">Fix first</h2>'
        '<p class="hint">Notes whose accepted reviews fail or warn, most failures first,'
        " then most warnings; gates by the share of their reviewed pairs that fail. A stale"
        " pair counts with its last accepted review.</p>"
        f"{body}</section>"
    )


def _note(data: ReportData, note: NoteToFix, *, open_: bool) -> str:
    link = _link(data.links.to(note.note_path), note.note_path)
    counts = f"{note.fails} fail, {note.warns} warn"
    items = "".join(_item(data, i) for i in note.items)
    return (
        f'<li class="fix-note" data-note="{_e(note.note_path)}" data-fails="{note.fails}"'
        f' data-warns="{note.warns}"><details{" open" if open_ else ""}>'
        f'<summary>{link} <span class="fix-count">{counts}</span></summary>'
        f'<ul class="fix-items">{items}</ul></details></li>'
    )


def _item(data: ReportData, item: FixItem) -> str:
    gate_file = data.gate_files.get(item.gate_id)
    gate = (
        _link(data.links.to(gate_file), item.gate_id)
        if gate_file
        else f"<code>{_e(item.gate_id)}</code>"
    )
    stale = (
        "" if item.state == FRESH else f' <span class="fix-stale">stale: {_e(item.state)}</span>'
    )
    findings = "".join(
        f'<li><span class="sev">{_e(f.severity or "note")}</span> {_inline(f.text)}</li>'
        for f in item.findings
    )
    revision = (
        '<div class="fix-revision"><h4>Suggested revision</h4>'
        f'<div class="md">{render(item.suggested_revision, heading_level=5)}</div></div>'
        if item.suggested_revision
        else ""
    )
    # the whole review is in the matrix, one click away; not repeated here
    return (
        f'<li class="fix-item" data-gate="{_e(item.gate_id)}" data-decision="{_e(item.decision)}">'
        f'<p class="fix-head"><span class="sw d-{_e(item.decision)}" aria-hidden="true">'
        f"{SYMBOLS.get(item.decision, '?')}</span> <b>{_e(item.decision)}</b> {gate}{stale}</p>"
        + (f'<ul class="findings">{findings}</ul>' if findings else "")
        + revision
        + "</li>"
    )


def _gates(data: ReportData, gates: tuple[GateToFix, ...]) -> str:
    def row(g: GateToFix) -> str:
        gate_file = data.gate_files.get(g.gate_id)
        name = _link(data.links.to(gate_file), g.gate_id) if gate_file else _e(g.gate_id)
        return (
            f'<tr data-gate="{_e(g.gate_id)}"><th scope="row">{name}</th>'
            f"<td>{g.reviewed:,}</td><td>{g.fails:,}</td><td>{g.warns:,}</td>"
            f"<td>{g.fail_rate:.0%}</td><td>{g.warn_rate:.0%}</td></tr>"
        )

    heads = "".join(
        f'<th scope="col">{h}</th>'
        for h in ("gate", "reviewed", "fail", "warn", "fail rate", "warn rate")
    )
    return (
        '<div class="scroll"><table class="fix-gates" aria-labelledby="fix-gates-title">'
        f"<thead><tr>{heads}</tr></thead><tbody>{''.join(row(g) for g in gates)}</tbody>"
        "</table></div>"
    )


def _more(count: int, what: str) -> str:
    if not count:
        return ""
    return f'<p class="fix-more">and {count:,} more {what}{"" if count == 1 else "s"}</p>'


def _inline(text: str) -> str:
    """A finding: one paragraph of Markdown, without its `<p>`."""
    html = render(text)
    if html.startswith("<p>") and html.endswith("</p>") and html.count("<p>") == 1:
        return html[3:-4]
    return html


def _link(url: str, text: str) -> str:
    return f'<a href="{_e(url)}"><code>{_e(text)}</code></a>'


def _e(text: str) -> str:
    return escape(text, quote=True)
