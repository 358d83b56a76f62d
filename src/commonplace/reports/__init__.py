"""Reports of the review store: the data they share, and one module per format."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

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
    report_dir: Path | None = None,
    repository_url: str | None = None,
) -> str:
    """The report in one format, as text (see `iter_report`)."""
    return "".join(
        iter_report(
            ws,
            format=format,
            model=model,
            effort=effort,
            note_refs=note_refs,
            changed=changed,
            report_dir=report_dir,
            repository_url=repository_url,
        )
    )


def iter_report(
    ws: Workspace,
    *,
    format: str,
    model: str | None = None,
    effort: str | None = None,
    note_refs: tuple[str, ...] = (),
    changed: ChangedScope | None = None,
    report_dir: Path | None = None,
    repository_url: str | None = None,
) -> Iterator[str]:
    """The report in one format, in pieces to write one by one (the HTML
    page is never one string); what can fail is checked before the first
    piece is asked for. Markdown covers one note (the one
    of `note_refs`), or without one the fix-first order of every note; the
    others every reviewable note, or those named. Links to the KB's files are
    relative to `report_dir` (default: the working directory), or go through
    `repository_url` (default: `[report] repository_url`)."""
    import dataclasses
    import json

    from commonplace.errors import UsageError
    from commonplace.reports.data import gather
    from commonplace.reports.links import links_for

    if format == "markdown" and len(note_refs) > 1:
        raise UsageError(f"a markdown report covers one note or all, not {len(note_refs)}")
    data = gather(ws, model=model, effort=effort, note_refs=note_refs, changed=changed)
    links = links_for(
        ws.config.kb_root,
        report_dir if report_dir is not None else ws.cwd,
        repository_url=repository_url or ws.config.report.repository_url,
        repo_prefix=data.repo_prefix,
    )
    data = dataclasses.replace(data, links=links)
    if format == "html":
        from commonplace.reports.html import iter_html

        return iter_html(data)
    if format == "markdown" and not note_refs:
        from commonplace.reports.fix_first_markdown import render_fix_first_markdown

        return iter((render_fix_first_markdown(data),))
    if format == "markdown":
        from commonplace.errors import UserError
        from commonplace.reports.markdown import render_markdown

        if len(data.notes) != 1:
            raise UserError(f"{note_refs[0]} names {len(data.notes)} notes; markdown reports one")
        return iter((render_markdown(data, data.notes[0]),))
    if format == "json":
        from commonplace.reports.fix_first import fix_first
        from commonplace.reports.gate_health import gate_health
        from commonplace.reports.summary import summary

        payload = summary(data)
        payload["fix_first"] = fix_first(data).as_dict()
        payload["gate_health"] = [g.as_dict() for g in gate_health(data)]
        return iter((json.dumps(payload, indent=2) + "\n",))
    if format == "sarif":
        from commonplace.reports.sarif import render_sarif

        log = render_sarif(data)
        return iter((json.dumps(log, indent=2) + "\n",))
    if format == "junit":
        from commonplace.reports.junit import render_junit

        return iter((render_junit(data),))
    raise UsageError(f"unknown format {format!r} (choose from: {', '.join(FORMATS)})")
