"""The JSON report (`review-report --format json`): counts by decision and by
staleness, overall and per lens, the partitions and the cost summary; its
staleness agrees with `review-target-selector` pair for pair."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, cast

import pytest
from helpers.cli import CLAIM_NOTE, PLAIN_NOTE, Cli, append, commit_paths
from helpers.db import store_of
from helpers.reviewed_corpus import (
    MODEL,
    OTHER_MODEL,
    OTHER_MODEL_ID,
    SCENARIO,
    review_pairs,
    scenario_kb,
)

from commonplace.reports.cost import cost_summary
from commonplace.reports.summary import SCHEMA
from commonplace.workspace import open_workspace

GATES = "kb/instructions/review-gates"


def report(cli: Cli, kb: Path, *args: str) -> dict[str, Any]:
    result = cli("review-report", "--format", "json", *args, cwd=kb)
    assert result.code == 0, result.err
    return cast(dict[str, Any], json.loads(result.out))


def selector_reasons(cli: Cli, kb: Path, model: str = MODEL) -> Counter[str]:
    result = cli("review-target-selector", "--all-gates", "--model", model, "--json", cwd=kb)
    assert result.code == 0, result.err
    return Counter(entry["reason"] for entry in cast(list[dict[str, str]], result.json()))


def assert_consistent(summary: dict[str, Any]) -> None:
    """Decisions and staleness each count every pair once, overall and per lens."""
    assert sum(summary["decisions"].values()) == summary["pairs"]
    assert sum(summary["staleness"].values()) == summary["pairs"]
    for key in ("decisions", "staleness"):
        total: Counter[str] = Counter()
        for lens in summary["by_lens"].values():
            total.update(lens[key])
        assert dict(total) == summary[key]


def test_counts_by_decision_with_everything_fresh(
    cli: Cli, tmp_path_factory: pytest.TempPathFactory
) -> None:
    kb = scenario_kb(tmp_path_factory)
    summary = report(cli, kb)
    assert summary["schema"] == SCHEMA == "commonplace.review-report/1"
    assert summary["model_id"] == MODEL
    assert summary["partitions"] == [MODEL]
    assert summary["generated_at"].endswith("Z")
    # Every gate: the catalog's, one per type spec (kb/types/index.md is an
    # index, not a spec) and one per COLLECTION.md.
    specs = [p for p in (kb / "kb").rglob("types/*.md") if p.name != "index.md"]
    conformance = [*specs, *(kb / "kb").rglob("COLLECTION.md")]
    assert summary["gates"] == len(list((kb / GATES).glob("*/*.md"))) + len(conformance) == 48
    assert_consistent(summary)

    reviewed = Counter(decision.lower() for decision, _ in SCENARIO.values())
    assert summary["decisions"] == {
        **reviewed,
        "never-reviewed": summary["pairs"] - len(SCENARIO),
    }
    missing = selector_reasons(cli, kb)
    assert summary["staleness"] == {"fresh": len(SCENARIO), **missing}
    assert summary["pairs"] == len(SCENARIO) + missing["missing-review"]
    frontmatter = summary["by_lens"]["frontmatter"]["decisions"]
    assert (frontmatter["pass"], frontmatter["fail"]) == (2, 2)


def test_staleness_agrees_with_the_selector_after_note_and_gate_changes(
    cli: Cli, corpus_kb: Path
) -> None:
    kb = corpus_kb
    review_pairs(cli, kb, SCENARIO)
    decisions = report(cli, kb)["decisions"]

    append(kb, CLAIM_NOTE, "\nOne more paragraph.\n")  # three reviewed pairs
    commit_paths(kb, CLAIM_NOTE)
    residue = f"{GATES}/prose/source-residue.md"  # reviewed on CLAIM_NOTE and another note
    append(kb, residue, "\nAlso look for pasted citations.\n")
    commit_paths(kb, residue)
    append(kb, f"{GATES}/frontmatter/description-discrimination.md", "\nUncommitted.\n")

    summary = report(cli, kb)
    assert_consistent(summary)
    assert summary["decisions"] == decisions  # stale pairs keep their decision
    reasons = selector_reasons(cli, kb)
    assert {"note-changed", "gate-changed", "gate-dirty", "missing-review"} <= set(reasons)
    stale = sum(reasons.values())
    assert summary["staleness"] == {**reasons, "fresh": summary["pairs"] - stale}
    # fresh: PLAIN_NOTE x title-body-alignment, LOOP_NOTE x stock-phrases
    assert summary["staleness"]["fresh"] == 2
    # a changed gate outranks a changed note
    prose = summary["by_lens"]["prose"]["staleness"]
    assert prose["gate-changed"] == 2 and "note-changed" not in prose
    assert summary["by_lens"]["frontmatter"]["staleness"]["note-changed"] == 2


def test_the_partition_and_the_cost_summary(cli: Cli, corpus_kb: Path) -> None:
    kb = corpus_kb
    review_pairs(cli, kb, SCENARIO)
    review_pairs(cli, kb, {(PLAIN_NOTE, "prose/source-residue"): ("WARN", ())}, model=OTHER_MODEL)
    default = report(cli, kb)
    other = report(cli, kb, "--model", OTHER_MODEL)
    assert default["model_id"] == MODEL  # the partition with the most current acceptances
    assert default["partitions"] == other["partitions"] == [MODEL, OTHER_MODEL_ID]
    assert other["model_id"] == OTHER_MODEL_ID
    assert other["decisions"] == {"warn": 1, "never-reviewed": other["pairs"] - 1}
    assert other["pairs"] == default["pairs"]

    with open_workspace(cwd=kb).store as store:
        expected = cost_summary(store).as_dict()
    assert default["cost"] == other["cost"] == expected
    total = expected["total"]
    assert (total["batches"], total["cost_usd"]) == (0, None)  # live agents report nothing
    assert set(total["tokens"].values()) <= {0}


def test_a_partition_with_nothing_reviewed_counts_every_pair_missing(
    cli: Cli, corpus_kb: Path
) -> None:
    summary = report(cli, corpus_kb, "--model", MODEL)
    assert not store_of(corpus_kb).exists()
    missing = selector_reasons(cli, corpus_kb)
    assert summary["pairs"] == missing["missing-review"] == sum(missing.values())
    assert summary["decisions"] == {"never-reviewed": summary["pairs"]}
    assert summary["staleness"] == {"missing-review": summary["pairs"]}
    assert summary["partitions"] == []
