"""A sweep's dry run as a forecast (the default; `--show-prompts` prints the
prompts instead, in `sweep_args`): batches, pairs, notes, counts by lens,
gate and stale reason, prompt size and tokens, the share from the cache,
output tokens and the cost at list price, with caching, with provider batch
jobs and with both.

`--list` prints one line per batch before that summary, and `--json` the
same summary with every batch; both are streamed, one batch at a time, so
that a sweep of thousands of notes never builds its listing in memory.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterator
from typing import Any, NamedTuple, TextIO

from commonplace.cli import app

TYPE_CHECKING = False
if TYPE_CHECKING:
    from commonplace.lifecycle.targets import Plan
    from commonplace.services.forecast import BatchEstimate, Forecast
    from commonplace.services.sweeps import SweepReport

COSTS = (
    ("list", "at list price"),
    ("cached", "with caching"),
    ("batch", "with provider batch jobs"),
    ("batch_cached", "with caching and batch jobs"),
)


def emit_forecast(args: argparse.Namespace, report: SweepReport) -> None:
    """Print the dry run's forecast: streamed JSON with `--json`, else text."""
    assert report.forecast is not None
    budget = getattr(args, "max_cost_usd", None)
    batch_jobs = bool(getattr(args, "provider_batch", False))
    if args.json:
        _stream_json(sys.stdout, report, budget, batch_jobs)
        return
    if getattr(args, "list", False):
        _stream_text(sys.stdout, report)
    lines = summary_lines(report, report.forecast.total(), budget, batch_jobs)
    sys.stdout.write("".join(line + "\n" for line in lines))


def forecast_json(forecast: Forecast, budget: float | None, batch_jobs: bool) -> dict[str, Any]:
    calibration, costs = forecast.calibration, forecast.costs
    payable = forecast.payable(batch_jobs)
    return {
        "batches": forecast.batches,
        "pairs": forecast.pairs,
        "notes": forecast.notes,
        "prompt_chars": forecast.prompt_chars,
        "input_tokens": forecast.input_tokens,
        "uncached_input_tokens": forecast.uncached_tokens,
        "cache_write_tokens": forecast.cache_write_tokens,
        "cache_read_tokens": forecast.cache_read_tokens,
        "cache_share": round(forecast.cache_share, 4),
        "output_tokens": forecast.output_tokens,
        "chars_per_token": round(calibration.chars_per_token, 4),
        "output_tokens_per_pair": round(calibration.output_per_pair, 2),
        "calibration": calibration.source,
        "history_batches": calibration.batches,
        "model": forecast.model,
        "price_source": forecast.price_source,
        "cost_usd": {key: round(getattr(costs, key), 6) for key, _ in COSTS} if costs else None,
        "payable_usd": None if payable is None else round(payable, 6),
        "max_cost_usd": budget,
        "within_budget": None if budget is None or payable is None else payable <= budget,
        "remarks": list(forecast.remarks),
    }


def batch_json(estimate: BatchEstimate, plan: Plan) -> dict[str, Any]:
    return {
        "notes": list(estimate.notes),
        "gates": list(_gate_ids(plan)),
        "pairs": estimate.pairs,
        "prompt_chars": estimate.prompt_chars,
        "input_tokens": estimate.input_tokens,
        "cache_read_tokens": estimate.cache_read_tokens,
        "cache_write_tokens": estimate.cache_write_tokens,
        "output_tokens": estimate.output_tokens,
    }


def _stream_json(out: TextIO, report: SweepReport, budget: float | None, batch_jobs: bool) -> None:
    """One JSON document, written piece by piece."""
    assert report.forecast is not None
    head = {"dry_run": True, "runner": report.runner, "model_id": report.model_id}
    out.write("{\n" + "".join(f"  {json.dumps(k)}: {json.dumps(v)},\n" for k, v in head.items()))
    rows = zip(report.forecast.estimates(), report.planned.plans, strict=True)
    _stream_list(out, "batches", (batch_json(e, plan) for e, plan in rows))
    out.write(",\n")
    summary = json.dumps(forecast_json(report.forecast.total(), budget, batch_jobs), indent=2)
    out.write('  "forecast": ' + summary.replace("\n", "\n  ") + ",\n")
    counts = json.dumps(counts_json(report), indent=2)
    out.write('  "counts": ' + counts.replace("\n", "\n  ") + ",\n")
    _stream_list(out, "skipped", iter(app.skipped_pairs(report.skipped)))
    out.write(",\n")
    _stream_list(out, "unreviewable", (u.as_json() for u in report.unreviewable))
    out.write(f',\n  "not_launched": {report.not_launched}\n}}\n')


def _stream_list(out: TextIO, key: str, items: Iterator[Any]) -> None:
    out.write(f"  {json.dumps(key)}: [")
    separator = "\n"
    for item in items:
        out.write(separator + "    " + json.dumps(item))
        separator = ",\n"
    out.write("\n  ]" if separator != "\n" else "]")


def _stream_text(out: TextIO, report: SweepReport) -> None:
    """One line per batch, as the forecast reads it."""
    assert report.forecast is not None
    rows = zip(report.forecast.estimates(), report.planned.plans, strict=True)
    for number, (estimate, plan) in enumerate(rows, 1):
        notes = ", ".join(map(app.shown, estimate.notes))
        gates = ", ".join(map(app.shown, _gate_ids(plan)))
        out.write(
            f"batch {number}: {notes}: {gates} ({_n(estimate.pairs, 'pair')},"
            f" {estimate.prompt_chars:,} characters, ~{estimate.input_tokens:,} input tokens)\n"
        )


def _gate_ids(plan: Plan) -> Iterator[str]:
    return iter(dict.fromkeys(g.id for t in plan.targets for g in t.gates))


class Counts(NamedTuple):
    """Pairs and batches per lens, pairs per gate, and pairs per note at the
    least and the most: what a dry run plans, without a row per pair."""

    lenses: dict[str, tuple[int, int]]  # lens -> (batches, pairs)
    gates: Counter[str]
    fewest_per_note: int
    most_per_note: int


def plan_counts(report: SweepReport) -> Counts:
    lenses: dict[str, list[int]] = {}
    gates: Counter[str] = Counter()
    per_note: Counter[str] = Counter()
    # what one tuple of gates adds (notes alike share theirs): its gate ids, and pairs per lens
    added: dict[int, tuple[object, tuple[str, ...], Counter[str]]] = {}
    for plan in report.planned.plans:
        seen: set[str] = set()
        for target in plan.targets:
            found = added.get(id(target.gates))
            if found is None:
                ids = tuple(g.id for g in target.gates)
                by_lens = Counter(g.rsplit("/", 1)[0] for g in ids)
                found = added[id(target.gates)] = (target.gates, ids, by_lens)
            _, ids, by_lens = found
            per_note[target.note.key] += len(ids)
            gates.update(ids)
            for lens, pairs in by_lens.items():
                tally = lenses.setdefault(lens, [0, 0])
                tally[1] += pairs
                if lens not in seen:
                    seen.add(lens)
                    tally[0] += 1
    return Counts(
        {lens: (b, p) for lens, (b, p) in sorted(lenses.items())},
        gates,
        min(per_note.values(), default=0),
        max(per_note.values(), default=0),
    )


def counts_json(report: SweepReport) -> dict[str, Any]:
    counts = plan_counts(report)
    return {
        "by_lens": {k: {"batches": b, "pairs": p} for k, (b, p) in counts.lenses.items()},
        "by_gate": dict(sorted(counts.gates.items())),
        "by_reason": dict(sorted(report.stale_reasons.items())),
        "pairs_per_note": {"fewest": counts.fewest_per_note, "most": counts.most_per_note},
    }


def _count_lines(report: SweepReport) -> Iterator[str]:
    counts = plan_counts(report)
    width = max(map(len, counts.lenses), default=0)
    yield "by lens:"
    for lens, (batches, pairs) in counts.lenses.items():
        yield f"  {app.shown(lens):<{width}}  {_n(pairs, 'pair')} in {_n(batches, 'batch')}"
    if counts.gates:
        ranked = counts.gates.most_common()
        (top, most), (bottom, fewest) = ranked[0], ranked[-1]
        yield (
            f"by gate: {_n(len(ranked), 'gate')}, from {fewest:,} pairs ({app.shown(bottom)})"
            f" to {most:,} ({app.shown(top)})"
        )
    yield (f"by note: {counts.fewest_per_note:,} to {counts.most_per_note:,} pairs a note")
    if report.stale_reasons:
        reasons = sorted(report.stale_reasons.items(), key=lambda kv: (-kv[1], kv[0]))
        yield "stale: " + ", ".join(f"{n:,} {reason}" for reason, n in reasons)


def summary_lines(
    report: SweepReport, forecast: Forecast, budget: float | None, batch_jobs: bool
) -> Iterator[str]:
    calibration = forecast.calibration
    if not forecast.batches:
        yield "nothing to review"
    else:
        yield (
            f"dry run: {_n(forecast.batches, 'batch')}, {_n(forecast.pairs, 'pair')},"
            f" {_n(forecast.notes, 'note')} ({app.shown(report.runner)},"
            f" {app.shown(report.model_id)}); nothing was created or changed"
        )
        yield from _count_lines(report)
        yield (
            f"prompts: {forecast.prompt_chars:,} characters,"
            f" about {forecast.input_tokens:,} input tokens"
        )
        yield (
            f"  from the cache: {forecast.cache_read_tokens:,} read"
            f" ({forecast.cache_share:.0%} of the input), {forecast.cache_write_tokens:,}"
            f" written, {forecast.uncached_tokens:,} not cached"
        )
        yield f"output: about {forecast.output_tokens:,} tokens"
        yield (
            f"estimated at {calibration.chars_per_token:.2f} characters per token and"
            f" {calibration.output_per_pair:.0f} output tokens per pair"
            f" ({app.shown(calibration.source)})"
        )
        yield from _cost_lines(forecast, budget, batch_jobs)
    reasons = Counter(s.reason for s in report.skipped)
    if reasons:
        counts = ", ".join(f"{n} {app.shown(r, backslashes=False)}" for r, n in reasons.items())
        yield f"skipped {_n(len(report.skipped), 'pair')}: {counts}"
    if report.not_launched:
        yield f"{_n(report.not_launched, 'more batch')} held back by --max-batches"
    if forecast.batches:
        yield "(--show-prompts prints the prompts)"


def _cost_lines(forecast: Forecast, budget: float | None, batch_jobs: bool) -> Iterator[str]:
    costs = forecast.costs
    if costs is not None:
        yield f"forecast cost for {app.shown(forecast.model)}:"
        for key, label in COSTS:
            yield f"  {label:<29} ${getattr(costs, key):.4f}"
        yield f"  (prices: {app.shown(forecast.price_source or '')})"
    for remark in forecast.remarks:
        yield f"note: {app.shown(remark, backslashes=False)}"
    payable = forecast.payable(batch_jobs)
    if budget is None:
        return
    if payable is not None:
        verdict = (
            "exceeds it: the sweep would refuse to start" if payable > budget else "is within it"
        )
        yield f"--max-cost-usd {budget:g}: the forecast ${payable:.4f} {verdict}"
    else:
        from commonplace.services.forecast import runner_kind

        refused = runner_kind(forecast.runner) != "command"
        yield f"--max-cost-usd {budget:g}: no price to check it against" + (
            "; the sweep would refuse to start" if refused else ""
        )


def _n(count: int, noun: str) -> str:
    plural = noun + ("es" if noun.endswith("ch") else "s")
    return f"{count:,} {noun if count == 1 else plural}"
