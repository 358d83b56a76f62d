"""Reports of the review store: the data they share, and one module per format."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from commonplace.services.changes import ChangedScope
    from commonplace.workspace import Workspace

FORMATS = ("html", "markdown", "json", "sarif", "junit")


def render_report(
    ws: Workspace,
    *,
    format: str,
    model: str | None = None,
    effort: str | None = None,
    note_refs: tuple[str, ...] = (),
    changed: ChangedScope | None = None,
) -> str:
    """The report in one format, as text. Markdown covers one note (the one
    of `note_refs`); the others every reviewable note, or those named."""
    import json

    from commonplace.errors import UsageError
    from commonplace.reports.data import gather

    if format == "markdown" and len(note_refs) != 1:
        raise UsageError(f"a markdown report covers exactly one note, not {len(note_refs)}")
    data = gather(ws, model=model, effort=effort, note_refs=note_refs, changed=changed)
    if format == "html":
        from commonplace.reports.html import render_html

        return render_html(data)
    if format == "markdown":
        from commonplace.errors import UserError
        from commonplace.reports.markdown import render_markdown

        if len(data.notes) != 1:
            raise UserError(f"{note_refs[0]} names {len(data.notes)} notes; markdown reports one")
        return render_markdown(data, data.notes[0])
    if format == "json":
        from commonplace.reports.summary import summary

        return json.dumps(summary(data), indent=2) + "\n"
    if format == "sarif":
        from commonplace.reports.sarif import render_sarif

        log = render_sarif(data)
        return json.dumps(log, indent=2) + "\n"
    if format == "junit":
        from commonplace.reports.junit import render_junit

        return render_junit(data)
    raise UsageError(f"unknown format {format!r} (choose from: {', '.join(FORMATS)})")
