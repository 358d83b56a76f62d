"""The HTML report (SPEC 12): one self-contained page that loads nothing.

A matrix of notes by gates for one partition, each cell coloured by decision
and marked by staleness, filterable by lens, decision and staleness, with each
pair's review one click away; and the cost panel. Standard-library string
building only: every value goes through `escape` (or, in the data block, the
JSON escapes of `html_data`), the style and the script are inline, and a
Content-Security-Policy allows exactly those two (by hash) and nothing else,
so the page cannot fetch anything even if it tried.

The matrix's rows and the reviews are not markup: they are a compact JSON data
block the script renders from, only the rows on screen, and a review only when
its cell is opened; so a 10,000-note KB gives a page of about 1.5 MB. Without
JavaScript the page shows the counts, the sections above the matrix and the
cost; `report.html#cell=<note>::<gate>` opens one review on load.
"""

from __future__ import annotations

import base64
import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from html import escape

from commonplace.reports.cost import TOKEN_KINDS, CostLine, CostSummary
from commonplace.reports.data import FRESH, NEVER, GateInfo, ReportData
from commonplace.reports.fix_first_html import render_fix_first
from commonplace.reports.gate_health_html import render_gate_health
from commonplace.reports.html_data import DATA_ID, iter_payload
from commonplace.reports.pairs import table_of

# Decision: (symbol, words). The symbol makes colour redundant.
DECISIONS = {
    "pass": ("✓", "pass"),
    "warn": ("!", "warn"),
    "fail": ("✗", "fail"),
    "error": ("⊘", "error"),
    "unknown": ("?", "unknown decision"),
    NEVER: ("○", "never reviewed"),
}
# State: (mark shown in the cell's corner, why). Stale cells are also hatched.
STATES = {
    FRESH: ("", "The accepted review is for the current note and gate."),
    "missing-review": ("M", "No review has been accepted for this pair in this partition."),
    NEVER: ("", "Never reviewed in this partition."),
    "note-changed": ("N", "The note changed since its accepted review."),
    "gate-changed": ("G", "The gate changed since its accepted review."),
    "gate-dirty": ("D", "The gate has uncommitted changes; commit it before reviewing."),
}
TOKEN_LABELS = {"cache_read": "cache read", "cache_write": "cache write"}


def render_html(data: ReportData) -> str:
    """The report of `data` as one HTML document."""
    return "".join(iter_html(data))


def iter_html(data: ReportData) -> Iterator[str]:
    """The report of `data` as one HTML document, in pieces to write one by
    one, so that a large report is never one large string."""
    table = table_of(data.cells, data.notes, [g.gate_id for g in data.gates])
    by_decision, by_state = table.counts()
    decisions = _ordered(by_decision, DECISIONS)
    states = _ordered(by_state, STATES)
    title = f"Review report: {data.kb_name} ({data.model_id})"
    css, js = _asset("report.css"), _asset("report.js")
    csp = (
        f"default-src 'none'; style-src '{_sha256(css)}'; script-src '{_sha256(js)}';"
        " base-uri 'none'; form-action 'none'"
    )
    yield (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="color-scheme" content="light dark">\n'
        '<meta name="generator" content="commonplace review">\n'
        f"<title>{_e(title)}</title>\n<style>{css}</style>\n</head>\n<body>\n"
    )
    yield _header(data, decisions, states)
    yield '<main id="main">'
    # Summary and cost, then what to fix first: above the matrix, rendered
    # here and readable without script.
    yield _cost(data.cost, data.model_id)
    yield render_fix_first(data)
    yield render_gate_health(data)
    yield _filters(data, decisions, states)
    yield _matrix(data)
    yield "</main>"
    yield _DIALOG
    yield f'\n<script type="application/json" id="{DATA_ID}">'
    yield from iter_payload(data, table, DECISIONS, STATES, list(decisions), list(states))
    yield f"</script>\n<script>{js}</script>\n</body>\n</html>\n"


def _header(data: ReportData, decisions: Counter[str], states: Counter[str]) -> str:
    others = [p for p in data.partitions if p != data.model_id]
    lenses = {g.lens for g in data.gates}
    scope = (
        f"{_n(len(data.notes), 'note')}, {_n(len(data.gates), 'gate')} in"
        f" {_n(len(lenses), 'lens', 'lenses')}, {_n(len(data.cells), 'applicable pair')}"
    )
    return (
        f'<header class="top"><h1>Review report <span class="kb">{_e(data.kb_name)}</span></h1>'
        '<dl class="meta">'
        f"<dt>Partition</dt><dd><code>{_e(data.model_id)}</code></dd>"
        f"<dt>Generated</dt><dd>{_time(data.generated_at)}</dd>"
        f"<dt>Scope</dt><dd>{scope}</dd>"
        "<dt>Other partitions</dt><dd>"
        + (", ".join(f"<code>{_e(p)}</code>" for p in others) or "none")
        + "</dd></dl>"
        '<div class="counts">'
        + _count_list("By decision", "decision", decisions, _decision_chip)
        + _count_list("By staleness", "state", states, _state_chip)
        + "</div></header>"
    )


def _count_list(title: str, kind: str, counts: Counter[str], chip: Callable[[str], str]) -> str:
    items = "".join(
        f'<li data-{kind}="{_e(key)}">{chip(key)} <b>{n:,}</b></li>' for key, n in counts.items()
    )
    return f'<section><h2>{title}</h2><ul class="chips">{items or "<li>none</li>"}</ul></section>'


def _decision_chip(decision: str) -> str:
    symbol, words = DECISIONS.get(decision, ("?", decision))
    return f'<span class="sw d-{_e(decision)}" aria-hidden="true">{symbol}</span> {_e(words)}'


def _state_chip(state: str) -> str:
    mark = STATES.get(state, ("?", ""))[0]
    hatch = "" if state == FRESH else " stale"
    return f'<span class="sw s{hatch}" aria-hidden="true">{mark}</span> {_e(state)}'


def _filters(data: ReportData, decisions: Counter[str], states: Counter[str]) -> str:
    lenses = dict.fromkeys(g.lens for g in data.gates)

    def group(legend: str, name: str, values: Iterable[str], label: Callable[[str], str]) -> str:
        boxes = "".join(
            f'<label><input type="checkbox" name="{name}" value="{_e(v)}" checked> {label(v)}'
            "</label>"
            for v in values
        )
        return f"<fieldset><legend>{legend}</legend>{boxes}</fieldset>"

    return (
        '<details class="panel" id="filter-box" open hidden><summary>Filters</summary>'
        '<form id="filters" aria-label="Filter the matrix">'
        + group("Lens", "lens", lenses, _e)
        + group("Decision", "decision", decisions, _decision_chip)
        + group("Staleness", "state", states, _state_chip)
        + '<div class="actions"><button type="button" data-preset="stale">Stale only</button>'
        '<button type="button" data-preset="attention">Warn, fail, error</button>'
        '<button type="button" data-preset="clear">Clear filters</button>'
        f'<output id="shown" aria-live="polite">{_n(len(data.cells), "pair")}</output></div>'
        "</form></details>"
    )


def _matrix(data: ReportData) -> str:
    """The matrix's frame: its head, with one column per gate grouped by lens;
    the script renders the rows on screen from the data block."""
    if not data.cells:
        return '<section class="panel" id="matrix"><p>No applicable pairs to show.</p></section>'
    lenses: dict[str, list[GateInfo]] = {}
    for gate in data.gates:
        lenses.setdefault(gate.lens, []).append(gate)
    head = "".join(
        f'<th scope="colgroup" colspan="{len(gates)}" data-lens-head="{_e(lens)}">{_e(lens)}</th>'
        for lens, gates in lenses.items()
    )
    gate_heads = "".join(
        f'<th scope="col" class="g" data-gate="{_e(g.gate_id)}" data-lens="{_e(lens)}"'
        f' title="{_e(g.gate_id + (f": {g.description}" if g.description else ""))}">'
        f"<span>{_e(g.gate_id.rsplit('/', 1)[1])}</span></th>"
        for lens, gates in lenses.items()
        for g in gates
    )
    return (
        '<section class="panel" id="matrix" aria-labelledby="matrix-title">'
        f'<h2 id="matrix-title">Notes by gates</h2>'
        '<p class="hint">Each cell is one pair: its symbol and colour give the decision,'
        " hatching and a corner letter mark a stale pair. Select a cell for its review;"
        " arrow keys move between cells.</p>"
        '<noscript><p class="hint">The matrix and the reviews behind it need JavaScript;'
        " the counts above and the cost below do not.</p></noscript>"
        '<div class="scroll" tabindex="0" role="region" aria-label="Matrix, scrolls both ways">'
        f'<table class="matrix"><thead><tr class="lenses"><th rowspan="2" class="corner">Note</th>'
        f"{head}</tr><tr>{gate_heads}</tr></thead><tbody></tbody></table>"
        "</div></section>"
    )


def _cost(cost: CostSummary, model_id: str) -> str:
    if cost.total.batches == 0:
        tables = "<p>No batch has reported telemetry yet.</p>"
    else:
        tables = "".join(
            _cost_table(title, lines, cost.total, model_id if title == "Partition" else None)
            for title, lines in (
                ("Partition", cost.by_partition),
                ("Gate", cost.by_gate),
                ("Runner", cost.by_runner),
                ("Day", cost.by_day),
            )
        )
    total = cost.total
    return (
        '<section class="panel" id="cost" aria-labelledby="cost-title">'
        '<h2 id="cost-title">Cost</h2>'
        f'<p class="total">{_n(total.batches, "batch", "batches")},'
        f" {_int(total.total_tokens)} tokens, cost {_usd(total.cost_usd)}.</p>"
        '<p class="hint">Telemetry is counted once per batch, never once per run. A batch'
        "&#x2019;s tokens and cost are shared among its gates in proportion to its pairs,"
        " so every table&#x2019;s tokens and cost add up to the total; a batch serving"
        " several gates counts in the batches of each.</p>"
        f'<div class="tables">{tables}</div></section>'
    )


def _cost_table(title: str, lines: tuple[CostLine, ...], total: CostLine, mark: str | None) -> str:
    heads = "".join(f'<th scope="col">{TOKEN_LABELS.get(k, k)}</th>' for k in TOKEN_KINDS)

    def row(line: CostLine) -> str:
        current = ' class="current"' if line.key == mark else ""
        key = _path(line.key) + (" (this report)" if current else "")
        cells = "".join(f"<td>{_int(line.tokens.get(k, 0.0))}</td>" for k in TOKEN_KINDS)
        return (
            f'<tr{current}><th scope="row">{key}</th><td>{line.batches:,}</td>'
            f"{cells}<td>{_usd(line.cost_usd)}</td></tr>"
        )

    body = "".join(row(line) for line in lines)
    return (
        f'<div class="scroll"><table class="cost" data-by="{title.lower()}">'
        f'<caption>By {title.lower()}</caption><thead><tr><th scope="col">{title}</th>'
        f'<th scope="col">batches</th>{heads}<th scope="col">cost</th></tr></thead>'
        f"<tbody>{body}</tbody><tfoot>{row(total)}</tfoot></table></div>"
    )


def _ordered(counts: Counter[str], known: Mapping[str, object]) -> Counter[str]:
    """Known keys in their order (present ones only), then any others."""
    order = [k for k in known if counts[k]] + sorted(k for k in counts if k not in known)
    return Counter({k: counts[k] for k in order})


def _time(iso: str) -> str:
    shown = iso.replace("T", " ")[:16] + " UTC" if iso.endswith("Z") else iso
    return f'<time datetime="{_e(iso)}">{_e(shown)}</time>'


def _n(count: int, one: str, many: str | None = None) -> str:
    return f"{count:,} {one if count == 1 else (many or one + 's')}"


def _int(value: float) -> str:
    return f"{round(value):,}"


def _usd(value: float | None) -> str:
    if value is None:
        return '<span class="muted">not reported</span>'
    return f"${value:,.2f}" if value >= 1 else f"${value:.4f}"


def _path(text: str) -> str:
    """Escaped, with a line-break opportunity after each slash."""
    return _e(text).replace("/", "/<wbr>")


def _e(text: str) -> str:
    return escape(text, quote=True)


def _asset(name: str) -> str:
    """The page's own stylesheet or script, kept beside this module."""
    from importlib.resources import files

    return files("commonplace.reports").joinpath(name).read_text(encoding="utf-8")


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()


_DIALOG = (
    '<dialog id="detail" aria-labelledby="detail-title"><div class="sheet">'
    '<button type="button" class="close" data-close aria-label="Close">✕</button>'
    '<div id="detail-body"></div></div></dialog>'
)
