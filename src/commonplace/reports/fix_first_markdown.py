"""The Markdown report of a whole partition (`--format markdown` without
`--note`): the fix-first order, then each listed pair's findings and
suggested revision, the review's own headings pushed below the report's."""

from __future__ import annotations

from commonplace.reports.data import FRESH, ReportData
from commonplace.reports.fix_first import FixFirst, fix_first
from commonplace.reports.markdown import demoted


def render_fix_first_markdown(data: ReportData, view: FixFirst | None = None) -> str:
    view = view if view is not None else fix_first(data)
    links = data.links
    lines = [
        f"# Fix first: {_code(data.kb_name)}",
        "",
        f"Partition {_code(data.model_id)}, from the review store at {data.generated_at}."
        " Notes whose accepted reviews fail or warn, most failures first; gates by the"
        " share of their reviewed pairs that fail.",
        "",
    ]
    if not view.notes:
        lines.append("No accepted review fails or warns in this partition.")
        return "\n".join(lines) + "\n"
    lines += ["## Notes", ""]
    for k, note in enumerate(view.notes, 1):
        gates = ", ".join(f"{_code(i.gate_id)} ({i.decision})" for i in note.items)
        lines.append(
            f"{k}. [{_code(note.note_path)}]({links.to(note.note_path)}):"
            f" {note.fails} fail, {note.warns} warn: {gates}"
        )
    if view.more_notes:
        lines.append(f"\nand {view.more_notes:,} more notes")
    lines += [
        "",
        "## Gates by fail rate",
        "",
        "| gate | reviewed | fail | warn | fail rate | warn rate |",
        "|---|---|---|---|---|---|",
    ]
    for g in view.gates:
        path = data.gate_files.get(g.gate_id)
        code = _code(g.gate_id, in_table=True)
        name = f"[{code}]({links.to(path)})" if path else code
        lines.append(
            f"| {name} | {g.reviewed} | {g.fails} | {g.warns}"
            f" | {g.fail_rate:.0%} | {g.warn_rate:.0%} |"
        )
    if view.more_gates:
        lines.append(f"\nand {view.more_gates:,} more gates")
    for note in view.notes:
        lines += ["", f"## {_code(note.note_path)}"]
        for item in note.items:
            stale = "" if item.state == FRESH else f" (stale: {item.state})"
            lines += ["", f"### {_code(item.gate_id)}: {item.decision}{stale}", ""]
            lines += [f"- {f.severity or 'note'}: {_one_line(f.text)}" for f in item.findings]
            if item.suggested_revision:
                lines += ["", "#### Suggested revision", "", demoted(item.suggested_revision, 4)]
    return "\n".join(lines) + "\n"


def _code(text: str, *, in_table: bool = False) -> str:
    """`text` as a code span that no backtick in it can end (and, in a
    table, no bar)."""
    body = " ".join(text.split())
    if in_table:
        body = body.replace("|", "\\|")
    ticks = "`" * (_longest_run(body) + 1)
    pad = " " if body.startswith("`") or body.endswith("`") else ""
    return f"{ticks}{pad}{body}{pad}{ticks}"


def _longest_run(text: str) -> int:
    best = run = 0
    for c in text:
        run = run + 1 if c == "`" else 0
        best = max(best, run)
    return best


def _one_line(text: str) -> str:
    return " ".join(text.split())
