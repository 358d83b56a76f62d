"""`commonplace.services.agreement` on a real store: two partitions review
the same corpus pairs through the real commands with decisions chosen per
pair; agreement and Cohen's kappa equal the values computed by hand here, a
pair reviewed on another note version is not shared, and firing flags follow
the rates. The report's JSON (`gate_health`) and HTML carry the figures."""

from __future__ import annotations

import json
import re
from fractions import Fraction
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from helpers.cli import Cli, append, commit_paths
from helpers.reviewed_corpus import MODEL, OTHER_MODEL, OTHER_MODEL_ID, review_pairs

from commonplace.services.agreement import (
    ALWAYS_FIRES,
    NEVER_FIRES,
    Firing,
    cohen_kappa,
    gate_quality,
)
from commonplace.workspace import open_workspace

pytestmark = pytest.mark.both_backends

RESIDUE = "prose/source-residue"  # applies to every note
JARGON = "accessibility/jargon-persistence"  # applies to every note
NOTES = [
    f"kb/notes/{name}.md"
    for name in (
        "a-derived-copy-of-recomputable-truth-must-be-checked-or-absent",
        "a-functioning-kb-needs-a-workshop-layer-not-just-a-library",
        "a-knowledge-base-holds-theories-descriptions-and-prescriptions-with",
        "a-knowledge-base-should-support-fluid-resolution-switching",
        "access-burden-and-transformation-burden-are-independent-query",
        "active-work-state-is-not-retrospective-memory-or-chat-history",
        "ad-hoc-prompts-extend-the-system-without-schema-changes",
        "agent-context-is-constrained-by-soft-degradation-not-hard-token-limits",
        "agent-is-a-tool-loop",
        "agent-memory-is-a-crosscutting-concern-not-a-separable-niche",
        "agent-orchestration-needs-coordination-guarantees-not-just",
        "agent-runtimes-decompose-into-scheduler-context-engine-and-execution",
    )
]
# Source residue on the first six notes, per partition: equal on 1, 3, 4, 5.
RESIDUE_A = ["PASS", "PASS", "WARN", "FAIL", "PASS", "FAIL"]
RESIDUE_B = ["PASS", "WARN", "WARN", "FAIL", "PASS", "PASS"]
EDITED = NOTES[6]  # reviewed by A, then edited, then reviewed by B


def hand_kappa(a: list[str], b: list[str]) -> Fraction:
    """Cohen's kappa written out: (p_o - p_e) / (1 - p_e)."""
    n = len(a)
    p_o = Fraction(sum(x == y for x, y in zip(a, b, strict=True)), n)
    p_e = sum(Fraction(a.count(c) * b.count(c), n * n) for c in ("PASS", "WARN", "FAIL"))
    return (p_o - p_e) / (1 - p_e)


@pytest.fixture
def two_partitions(cli: Cli, corpus_kb: Path) -> Path:
    """Partition A reviews both gates on all twelve notes (residue fires on
    3 of 12, jargon on all 12); the seventh note is edited; partition B
    reviews residue on the first seven and jargon (all pass) on the first ten."""
    kb = corpus_kb
    plan_a = {
        **{(n, RESIDUE): (d, ()) for n, d in zip(NOTES, [*RESIDUE_A, *["PASS"] * 6], strict=True)},
        **{(n, JARGON): ("FAIL" if k % 2 else "WARN", ()) for k, n in enumerate(NOTES)},
    }
    review_pairs(cli, kb, plan_a, model=MODEL)
    append(kb, EDITED, "\nOne more sentence.\n")
    commit_paths(kb, EDITED)
    plan_b = {
        **{(n, RESIDUE): (d, ()) for n, d in zip(NOTES[:7], [*RESIDUE_B, "FAIL"], strict=True)},
        **{(n, JARGON): ("PASS", ()) for n in NOTES[:10]},
    }
    review_pairs(cli, kb, plan_b, model=OTHER_MODEL)
    return kb


def test_kappa_and_agreement_equal_the_hand_computed_values(two_partitions: Path) -> None:
    with open_workspace(cwd=two_partitions).store as store:
        quality = gate_quality(store)
    agreements = {a.gate_id: a for a in quality.agreements}
    residue = agreements[RESIDUE]
    assert (residue.model_a, residue.model_b) == (MODEL, OTHER_MODEL_ID)
    # the edited note was seen in two versions: not shared
    assert (residue.shared, residue.agreed) == (6, 4)
    assert residue.agreement == pytest.approx(4 / 6)
    expected = hand_kappa(RESIDUE_A, RESIDUE_B)
    assert expected == Fraction(11, 23)
    assert residue.kappa == pytest.approx(float(expected))
    assert residue.confusion["pass"] == {"pass": 2, "warn": 1, "fail": 0}
    assert residue.confusion["fail"] == {"pass": 1, "warn": 0, "fail": 1}
    assert [(d.note_path, d.decision_a, d.decision_b) for d in residue.disagreements] == [
        (NOTES[1], "pass", "warn"),
        (NOTES[5], "fail", "pass"),
    ]
    jargon = agreements[JARGON]
    # nine shared (the edited note is not); no decision in common: chance 0, kappa 0
    assert (jargon.shared, jargon.agreed, jargon.kappa) == (9, 0, 0.0)

    firing = {(f.gate_id, f.model_id): f for f in quality.firing}
    assert (firing[RESIDUE, MODEL].reviewed, firing[RESIDUE, MODEL].rate) == (12, 0.25)
    assert firing[RESIDUE, MODEL].flag is None
    assert firing[JARGON, MODEL].flag == ALWAYS_FIRES
    assert (firing[JARGON, OTHER_MODEL_ID].reviewed, firing[JARGON, OTHER_MODEL_ID].flag) == (
        10,
        NEVER_FIRES,
    )
    assert firing[RESIDUE, OTHER_MODEL_ID].flag is None  # seven reviewed: too few to flag

    with open_workspace(cwd=two_partitions).store as store:
        only = gate_quality(store, note_paths=NOTES[:3], gate_ids=[RESIDUE])
    assert [(a.gate_id, a.shared, a.agreed) for a in only.agreements] == [(RESIDUE, 3, 2)]
    assert {f.reviewed for f in only.firing} == {3}


def test_the_json_report_carries_gate_health(cli: Cli, two_partitions: Path) -> None:
    def health(*args: str) -> dict[str, dict[str, Any]]:
        result = cli("review-report", "--format", "json", *args, cwd=two_partitions)
        assert result.code == 0, result.err
        return {g["gate_id"]: g for g in json.loads(result.out)["gate_health"]}

    mine = health("--model", MODEL)
    residue = mine[RESIDUE]
    assert set(residue) == {
        "gate_id",
        "reviewed",
        "firing_rate",
        "flags",
        "agreement",
        "calibration",
        "label_disagreements",
        "more_label_disagreements",
    }
    assert (residue["reviewed"], residue["firing_rate"], residue["flags"]) == (12, 0.25, [])
    assert residue["calibration"] is None and residue["label_disagreements"] == []
    (other,) = residue["agreement"]
    assert (other["model_a"], other["model_b"]) == (MODEL, OTHER_MODEL_ID)
    assert (other["shared"], other["agreed"]) == (6, 4)
    assert other["kappa"] == pytest.approx(11 / 23, abs=1e-6)
    first = other["disagreements"][0]
    assert (first["decision"], first["other_decision"]) == ("pass", "warn")
    assert unquote(first["cell"]) == f"#cell={NOTES[1]}::{RESIDUE}"
    assert mine[JARGON]["flags"] == [ALWAYS_FIRES]
    unreviewed = mine["prose/orphan-references"]
    assert (unreviewed["reviewed"], unreviewed["firing_rate"], unreviewed["agreement"]) == (
        0,
        None,
        [],
    )

    theirs = health("--model", OTHER_MODEL)
    assert theirs[JARGON]["flags"] == [NEVER_FIRES]
    (seen,) = theirs[RESIDUE]["agreement"]
    assert (seen["model_a"], seen["model_b"]) == (OTHER_MODEL_ID, MODEL)
    assert [(d["decision"], d["other_decision"]) for d in seen["disagreements"]] == [
        ("warn", "pass"),
        ("pass", "fail"),
    ]
    assert seen["confusion"]["warn"] == {"pass": 1, "warn": 1, "fail": 0}


def test_the_html_report_has_the_gate_health_section(cli: Cli, two_partitions: Path) -> None:
    out = two_partitions / "report.html"
    result = cli(
        "review-report", "--format", "html", "--model", MODEL, "--out", str(out),
        cwd=two_partitions,
    )  # fmt: skip
    assert result.code == 0, result.err
    page = out.read_text(encoding="utf-8")
    section = page[page.index('<section class="panel" id="gate-health"') :]
    section = section[: section.index("</section>")]
    row = re.search(rf'<tr data-gate="{re.escape(RESIDUE)}">(.*?)</tr>', section)
    assert row is not None
    text = unescape(re.sub(r"<[^>]+>", " ", row.group(1)))
    assert "67% agree" in text and "κ 0.48" in text and "6 shared" in text and "25%" in text
    links = re.findall(r'href="(#cell=[^"]+)"', row.group(1))
    assert [unquote(link) for link in links] == [
        f"#cell={NOTES[1]}::{RESIDUE}",
        f"#cell={NOTES[5]}::{RESIDUE}",
    ]
    assert ALWAYS_FIRES in section


@pytest.mark.one_backend
def test_kappa_and_flags_at_their_edges() -> None:
    assert cohen_kappa([]) is None
    assert cohen_kappa([("pass", "pass")] * 4) is None  # chance agreement is 1
    assert cohen_kappa([("pass", "pass"), ("fail", "fail")]) == 1.0
    assert cohen_kappa([("pass", "fail"), ("fail", "pass")]) == -1.0
    assert Firing("g", "m", 9, 0, 0).flag is None  # fewer than ten: no flag
    assert Firing("g", "m", 10, 0, 0).flag == NEVER_FIRES
    assert Firing("g", "m", 10, 4, 6).flag == ALWAYS_FIRES
    assert Firing("g", "m", 10, 4, 5).flag is None
    assert Firing("g", "m", 0, 0, 0).rate == 0.0
