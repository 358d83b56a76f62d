"""The Markdown report (SPEC 12): one note's current reviews in a partition,
rendered from the store: a table of its gates, then each review whole."""

from __future__ import annotations

from commonplace.errors import UserError
from commonplace.markdown import track_fence
from commonplace.reports.data import FRESH, ReportData


def render_markdown(data: ReportData, note_path: str) -> str:
    cells = [c for c in data.cells if c.note_path == note_path]
    if not cells:
        raise UserError(f"no gate applies to {note_path}")
    lines = [
        f"# Reviews of `{note_path}`",
        "",
        f"Partition `{data.model_id}`, from the review store at {data.generated_at}.",
        "",
        "| gate | decision | state | reviewed |",
        "|---|---|---|---|",
    ]
    for cell in cells:
        reviewed = cell.review.reviewed_at if cell.review else ""
        lines.append(f"| `{cell.gate_id}` | {cell.decision} | {cell.state} | {reviewed} |")
    for cell in cells:
        review = cell.review
        if review is None:
            continue
        stale = "" if cell.state == FRESH else f", stale: {cell.state}"
        lines += [
            "",
            f"## {cell.gate_id}: {review.decision}",
            "",
            f"Review {review.gate_review_id} of run {review.review_run_id},"
            f" {review.reviewed_at} ({review.acceptance_kind}{stale}).",
            "",
            demoted(review.rationale_markdown.rstrip()),
        ]
    return "\n".join(lines) + "\n"


def demoted(text: str, levels: int = 2) -> str:
    """A review's own headings `levels` down, below the report's own (the
    gate's `##` here)."""
    out, fence = [], ""
    for line in text.split("\n"):
        after = track_fence(fence, line)
        heading = not fence and not after and line.startswith("#")
        out.append("#" * levels + line if heading else line)
        fence = after
    return "\n".join(out)
