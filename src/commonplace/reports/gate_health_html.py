"""The "gate health" panel of the HTML report: one row per gate with its
firing rate and flags, its agreement with the other partitions and links to
the pairs they disagree on (into the matrix, `#cell=`), and, when the report
was given them, calibration figures and disagreements with people's labels.
Server-rendered, every value escaped; at most `LINKS` links per cell, so the
panel stays small however large the KB."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from commonplace.reports.data import ReportData
from commonplace.reports.gate_health import Calibration, GateHealth, cell_fragment, gate_health
from commonplace.services.agreement import MIN_REVIEWED, Agreement

LINKS = 5  # disagreement links shown per gate and partition


def render_gate_health(data: ReportData, rows: Sequence[GateHealth] | None = None) -> str:
    rows = gate_health(data) if rows is None else rows
    calibrated = any(r.calibration is not None for r in rows)
    labelled = any(r.label_disagreements for r in rows)
    heads = ["gate", "reviewed", "firing rate", "flags", "agreement with other partitions"]
    if calibrated:
        heads += ["examples", "accuracy", "hit rate", "false alarms"]
    if labelled:
        heads.append("people disagree")
    head = "".join(f'<th scope="col">{h}</th>' for h in heads)
    body = "".join(_row(data, r, calibrated, labelled) for r in rows)
    table = (
        '<div class="scroll"><table class="gate-health" aria-labelledby="gate-health-title">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
        if rows
        else "<p>No gates.</p>"
    )
    return (
        '<section class="panel" id="gate-health" aria-labelledby="gate-health-title">'
        '<h2 id="gate-health-title">Gate health</h2>'
        '<p class="hint">Firing rate: the share of the gate&#x2019;s reviewed pairs in this'
        " partition decided warn or fail; with at least"
        f" {MIN_REVIEWED} reviewed pairs a gate that never or always fires is flagged."
        " Agreement and Cohen&#x2019;s &#x3ba; (kappa) count only pairs both partitions"
        " reviewed on the same note and gate versions; each link opens this partition&#x2019;s"
        " review of a pair they disagree on.</p>"
        f"{table}</section>"
    )


def _row(data: ReportData, row: GateHealth, calibrated: bool, labelled: bool) -> str:
    gate_file = data.gate_files.get(row.gate_id)
    name = (
        f'<a href="{_e(data.links.to(gate_file))}"><code>{_e(row.gate_id)}</code></a>'
        if gate_file
        else f"<code>{_e(row.gate_id)}</code>"
    )
    firing = row.firing
    flags = "".join(f'<span class="flag">{_e(f)}</span> ' for f in row.flags).strip()
    agreement = "".join(_agreement(a) for a in row.agreements)
    cells = [
        f'<th scope="row">{name}</th>',
        f"<td>{firing.reviewed:,}</td>" if firing else "<td>0</td>",
        f"<td>{firing.rate:.0%}</td>" if firing else '<td class="muted">&#x2013;</td>',
        f"<td>{flags}</td>",
        f'<td><ul class="agreement">{agreement}</ul></td>' if agreement else "<td></td>",
    ]
    if calibrated:
        cells += _calibration(row.calibration)
    if labelled:
        titled = [
            (
                d.note_path,
                f"{d.note_path}: label {d.label_decision}, {d.model_id} {d.model_decision}",
            )
            for d in row.label_disagreements
        ]
        links = _links(titled, row.gate_id, row.more_label_disagreements)
        cells.append(f"<td>{links}</td>")
    return f'<tr data-gate="{_e(row.gate_id)}">{"".join(cells)}</tr>'


def _agreement(a: Agreement) -> str:
    kappa = "&#x3ba; n/a" if a.kappa is None else f"&#x3ba; {a.kappa:.2f}"
    shown = [
        (d.note_path, f"{d.note_path}: {d.decision_a} here, {d.decision_b} there")
        for d in a.disagreements[:LINKS]
    ]
    more = len(a.disagreements) - len(shown) + a.more_disagreements
    links = _links(shown, a.gate_id, more)
    return (
        f'<li data-partition="{_e(a.model_b)}"><code>{_e(a.model_b)}</code>:'
        f" {a.agreement:.0%} agree, {kappa}, {a.shared:,} shared"
        f"{' ' + links if links else ''}</li>"
    )


def _links(items: Sequence[tuple[str, str]], gate_id: str, more: int) -> str:
    """Links into the matrix, one per pair (titled with what differs)."""
    links = " ".join(
        f'<a class="disagree" href="{_e(cell_fragment(note, gate_id))}" title="{_e(title)}">'
        f"{_e(note.rsplit('/', 1)[-1])}</a>"
        for note, title in items
    )
    if more:
        links += f" and {more:,} more"
    return links


def _calibration(c: Calibration | None) -> list[str]:
    if c is None:
        return ['<td class="muted">&#x2013;</td>'] * 4
    stale = ' <span class="flag">stale</span>' if c.stale else ""
    return [
        f"<td>{c.examples:,}{stale}</td>",
        f"<td>{_rate(c.accuracy)}</td>",
        f"<td>{_rate(c.hit_rate)}</td>",
        f"<td>{_rate(c.false_alarm_rate)}</td>",
    ]


def _rate(value: float | None) -> str:
    return "&#x2013;" if value is None else f"{value:.0%}"


def _e(text: str) -> str:
    return escape(text, quote=True)
