"""The JSON report (SPEC 12): counts by decision and staleness, overall and
per lens, and the cost summary, for scripts."""

from __future__ import annotations

from collections import Counter

from commonplace.reports.data import ReportData

SCHEMA = "commonplace.review-report/1"


def summary(data: ReportData) -> dict[str, object]:
    lenses: dict[str, tuple[Counter[str], Counter[str]]] = {}
    for cell in data.cells:
        decisions, states = lenses.setdefault(cell.lens, (Counter(), Counter()))
        decisions[cell.decision] += 1
        states[cell.state] += 1
    return {
        "schema": SCHEMA,
        "model_id": data.model_id,
        "generated_at": data.generated_at,
        "notes": len(data.notes),
        "gates": len(data.gates),
        "pairs": len(data.cells),
        "decisions": dict(sorted(Counter(c.decision for c in data.cells).items())),
        "staleness": dict(sorted(Counter(c.state for c in data.cells).items())),
        "by_lens": {
            lens: {"decisions": dict(sorted(d.items())), "staleness": dict(sorted(s.items()))}
            for lens, (d, s) in sorted(lenses.items())
        },
        "partitions": list(data.partitions),
        "cost": data.cost.as_dict(),
    }
