#!/usr/bin/env python3
"""The forecast before spend against what a sweep then measures, on a copy of
the real corpus.

Targets (issue 15): the forecast of a lens sweep of 20 notes through
`anthropic-api` within 15% of the tokens measured; the cost per reviewed pair
with caching and batch prices at most 0.4x the list price without either.

Two forecasts of the same sweep (`commonplace-review-sweep <lens> --note ...
--runner anthropic-api --dry-run --json`): one from an empty store (the
default characters per token and output per pair), one from a store that
holds a sweep of 20 other notes of the same lens (calibrated on its
telemetry). Then the sweep runs, through the official SDK, against the
loopback imitation of the Messages API (tests/helpers/api_imitation.py),
which caches what the requests mark and counts tokens like a tokenizer
(words, punctuation, whitespace), not as a fixed share of the characters.
Provider batch jobs are not used: their prices are applied to the measured
tokens. Prints the figures; never fails on them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from _common import REPO_ROOT, compile_package, copy_corpus, find_command

sys.path.insert(0, str(REPO_ROOT / "tests"))
from helpers.api_imitation import FAKE_ANTHROPIC_KEY, ApiImitation
from helpers.vendor_api import requested_pairs

from commonplace.runners.pricing import PriceTable, Usage, cost_of, list_cost

DEFAULT_CORPUS = REPO_ROOT.parent / "shared" / "corpus" / "commonplace-kb"
SWEEP = "commonplace-review-sweep"
MODEL = "claude-sonnet-4-5"
WITHIN = 0.15
COST_RATIO = 0.4


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--lens", default="semantic")
    parser.add_argument("--notes", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args()
    command = find_command(SWEEP)
    if command is None or not args.corpus.is_dir():
        print(f"error: need {SWEEP} and the corpus at {args.corpus}", file=sys.stderr)
        return 1
    compile_package()
    with tempfile.TemporaryDirectory() as tmp, ApiImitation() as api:
        kb = copy_corpus(args.corpus, tmp)
        notes = sorted(
            str(p.relative_to(kb))
            for p in (kb / "kb/notes").glob("*.md")
            if p.read_text("utf-8").startswith("---")
        )
        history, chosen = notes[: args.notes], notes[args.notes : 2 * args.notes]
        env = {
            **os.environ,
            "ANTHROPIC_API_KEY": FAKE_ANTHROPIC_KEY,
            "ANTHROPIC_BASE_URL": api.url,
            "COMMONPLACE_REVIEW_DB": str(Path(tmp) / "store.sqlite"),
        }

        def sweep(note_paths: list[str], *more: str) -> dict[str, Any]:
            argv = [command, args.lens, "--note", *note_paths, "--runner", "anthropic-api"]
            argv += ["--model", MODEL, "--jobs", str(args.jobs), "--json", *more]
            done = subprocess.run(argv, cwd=kb, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"error: {' '.join(argv[:2])} failed:\n{done.stderr}")
            result: dict[str, Any] = json.loads(done.stdout)
            return result

        cold = sweep(chosen, "--dry-run")["forecast"]
        sweep(history)
        warm = sweep(chosen, "--dry-run")["forecast"]
        before = len(api.reviews())
        report = sweep(chosen)
        requests = api.reviews()[before:]
    usage = [r.usage for r in requests]
    measured = {
        "input_tokens": sum(u["input"] + u["cache_read"] + u["cache_write"] for u in usage),
        "cache_read_tokens": sum(u["cache_read"] for u in usage),
        "cache_write_tokens": sum(u["cache_write"] for u in usage),
        "output_tokens": sum(u["output"] for u in usage),
    }
    pairs = sum(len(requested_pairs(r.prompt) or []) for r in requests)
    print(
        f"lens sweep: {args.lens}, {len(chosen)} notes, {len(requests)} requests,"
        f" {pairs} pairs, jobs {args.jobs}; runs completed {report['completed']},"
        f" failed {report['failed']}"
    )
    print(f"{'':20} {'measured':>10} {'empty store':>22} {'with history':>22}")
    for key, value in measured.items():
        print(
            f"{key:20} {value:>10,} {_versus(cold[key], value):>22} {_versus(warm[key], value):>22}"
        )
    for name, forecast in (("empty store", cold), ("with history", warm)):
        error = abs(forecast["input_tokens"] - measured["input_tokens"]) / measured["input_tokens"]
        verdict = "met" if error <= WITHIN else "NOT met"
        print(
            f"forecast input tokens, {name}: off by {error:.1%} (within {WITHIN:.0%}: {verdict});"
            f" {forecast['chars_per_token']:.3f} characters per token"
            f" ({forecast['calibration']})"
        )
    share = measured["cache_read_tokens"] / measured["input_tokens"]
    forecast_share = warm["cache_share"]
    print(
        f"share of input read from the cache: measured {share:.3f}, forecast {forecast_share:.3f}"
    )
    price = PriceTable().find(MODEL)
    assert price is not None
    spent = Usage(
        measured["input_tokens"] - measured["cache_read_tokens"] - measured["cache_write_tokens"],
        measured["cache_write_tokens"],
        measured["cache_read_tokens"],
        measured["output_tokens"],
    )
    listed, cached, both = (
        list_cost(price, spent),
        cost_of(price, spent),
        cost_of(price, spent, batch=True),
    )
    ratio = both / listed
    verdict = "met" if ratio <= COST_RATIO else "NOT met"
    print(
        f"cost per reviewed pair: ${listed / pairs:.5f} at list price, ${cached / pairs:.5f}"
        f" with caching, ${both / pairs:.5f} with caching and batch prices"
        f" ({ratio:.2f}x list; <= {COST_RATIO}x: {verdict})"
    )
    print(
        f"forecast cost of the sweep (with history): list ${warm['cost_usd']['list']:.4f},"
        f" cached ${warm['cost_usd']['cached']:.4f}, both ${warm['cost_usd']['batch_cached']:.4f};"
        f" measured usage priced the same: ${listed:.4f}, ${cached:.4f}, ${both:.4f};"
        f" reported ${report['cost_usd']:.4f}"
    )
    return 0


def _versus(forecast: int, measured: int) -> str:
    if not measured:
        return f"{forecast:,} (n/a)"
    return f"{forecast:,} ({(forecast - measured) / measured:+.1%})"


if __name__ == "__main__":
    sys.exit(main())
