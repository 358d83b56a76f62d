"""The split gate-by-gate path end to end on the real corpus: create a run,
write one gate review per call (file and stdin), finalize, and read the rows
back with sqlite3 the way people query the store."""

from __future__ import annotations

import json
from pathlib import Path

from helpers.cli import (
    CLAIM_NOTE,
    FRONTMATTER_GATES,
    PLAIN_NOTE,
    UNROUTED_FRONTMATTER_GATES,
    assert_refused,
    blob,
    create_review_run,
    finalize,
    write_gate_review,
    write_review,
    write_reviews,
)
from helpers.db import one, rows, store_of
from helpers.kb import head
from helpers.reviews import review

MODEL = "claude-opus-4-6"
MODEL_ID = "claude-opus-4-6-high"

CREATE_KEYS = {"review_run_id", "batch_id", "note_path", "model_id", "gate_ids", "skipped"}
WRITE_KEYS = {"review_run_id", "gate_id", "gate_review_id", "decision"}
FINALIZE_KEYS = {"review_run_id", "status", "model_id"}

# gate -> (review text, how it is given, expected decision)
PLAN = {
    "frontmatter/claim-strength": (review("PASS"), "file", "pass"),
    "frontmatter/description-discrimination": (review("WARN"), "stdin", "warn"),
    "frontmatter/title-as-claim": (
        review(None) + "\n**Result:** FAIL (the title is a label)\n",
        "file",
        "fail",
    ),
    "frontmatter/title-body-alignment": (review(None), "stdin", "unknown"),
    "frontmatter/title-composability": (
        review("PASS").replace("## Result", "## result"),
        "stdin",
        "pass",
    ),
}


def _create(cli, kb: Path, note: str, *gates: str) -> dict:
    result = create_review_run(
        cli, kb, note, *gates, model=MODEL, extra=("--effort", "high", "--json")
    )
    assert result.code == 0, result.err
    assert result.err == ""
    payload = result.json()
    assert payload.keys() >= CREATE_KEYS
    return payload


def _select(cli, kb: Path, note: str, *effort: str):
    """`review-target-selector --json` on the frontmatter gates of one note."""
    return cli(
        "review-target-selector",
        "frontmatter",
        "--model",
        MODEL,
        *effort,
        "--note",
        note,
        "--json",
        cwd=kb,
    )


def test_split_path_leaves_one_completed_run_and_one_acceptance_per_verdict(
    cli, corpus_kb: Path, tmp_path: Path
) -> None:
    kb = corpus_kb
    created = _create(cli, kb, CLAIM_NOTE, "frontmatter")
    run_id = created["review_run_id"]
    assert isinstance(run_id, int) and isinstance(created["batch_id"], int)
    assert created["note_path"] == CLAIM_NOTE
    assert created["model_id"] == MODEL_ID
    assert created["gate_ids"] == list(FRONTMATTER_GATES)
    assert created["skipped"] == []

    db = store_of(kb)
    assert one(db, "SELECT status FROM review_runs WHERE id = ?", (run_id,)) == "running"

    written: dict[str, dict] = {}
    for gate, (text, how, expected) in PLAN.items():
        if how == "file":
            path = tmp_path / f"{gate.replace('/', '_')}.md"
            path.write_text(text, encoding="utf-8")
            result = write_gate_review(cli, kb, run_id, gate, "--input-file", str(path), "--json")
        else:
            result = write_gate_review(cli, kb, run_id, gate, "--json", stdin=text)
        assert result.code == 0, (gate, result.err)
        payload = result.json()
        assert payload.keys() >= WRITE_KEYS
        assert payload["review_run_id"] == run_id
        assert payload["gate_id"] == gate
        assert payload["decision"] == expected, gate
        assert isinstance(payload["gate_review_id"], int)
        written[gate] = payload
    # Nothing is accepted before the run is finalized.
    assert one(db, "SELECT COUNT(*) FROM acceptance_events") == 0
    assert one(db, "SELECT status FROM review_runs WHERE id = ?", (run_id,)) == "running"

    result = finalize(cli, kb, run_id, "--json")
    assert result.code == 0, result.err
    final = result.json()
    assert final.keys() >= FINALIZE_KEYS
    assert final["review_run_id"] == run_id
    assert final["status"] == "completed"
    assert final["model_id"] == MODEL_ID
    assert final.get("reason") is None

    note_sha, commit = blob(kb, CLAIM_NOTE), head(kb)
    gates_dir = "kb/instructions/review-gates"
    gate_shas = {g: blob(kb, f"{gates_dir}/{g}.md") for g in FRONTMATTER_GATES}

    runs = rows(
        db,
        "SELECT id, batch_id, note_path, model_id, runner, status, completed_at, failure_reason,"
        " reviewed_note_sha, reviewed_note_commit FROM review_runs",
    )
    assert len(runs) == 1
    (rid, batch, note, model_id, runner, status, completed_at, reason, sha, run_commit) = runs[0]
    assert (rid, batch, note, model_id, runner) == (
        run_id,
        created["batch_id"],
        CLAIM_NOTE,
        MODEL_ID,
        "live-agent",
    )
    assert status == "completed" and completed_at and completed_at.endswith("Z")
    assert reason is None
    assert (sha, run_commit) == (note_sha, commit)

    assert rows(
        db,
        "SELECT gate_id, gate_sha, ordinal FROM review_run_gates WHERE review_run_id = ?"
        " ORDER BY ordinal",
        (run_id,),
    ) == [(g, gate_shas[g], i) for i, g in enumerate(FRONTMATTER_GATES)]

    reviews = {
        r[0]: r[1:]
        for r in rows(
            db,
            "SELECT gate_id, id, decision, model_id, note_path, gate_sha, reviewed_note_sha,"
            " rationale_markdown FROM gate_reviews WHERE review_run_id = ?",
            (run_id,),
        )
    }
    assert set(reviews) == set(FRONTMATTER_GATES)
    for gate, (_text, _, expected) in PLAN.items():
        gr_id, decision, gr_model, gr_note, gr_gate_sha, gr_note_sha, rationale = reviews[gate]
        assert gr_id == written[gate]["gate_review_id"]
        assert decision == expected
        assert (gr_model, gr_note, gr_gate_sha, gr_note_sha) == (
            MODEL_ID,
            CLAIM_NOTE,
            gate_shas[gate],
            note_sha,
        )
        assert "Reviewed the note against the gate." in rationale
        if expected != "unknown":
            assert rationale.rstrip().endswith(f"## Result: {expected.upper()}")
    findings = json.loads(
        one(
            db,
            "SELECT findings_json FROM gate_reviews WHERE gate_id = ?",
            ("frontmatter/description-discrimination",),
        )
    )
    assert findings and findings[0]["severity"].lower() == "warn"

    events = rows(
        db,
        "SELECT gate_id, model_id, note_path, accepted_review_id, accepted_note_sha,"
        " accepted_note_commit, accepted_gate_sha, acceptance_kind FROM acceptance_events",
    )
    accepted_gates = [g for g, (_, _, d) in PLAN.items() if d != "unknown"]
    assert sorted(e[0] for e in events) == sorted(accepted_gates)  # exactly once each
    for gate, model_id, note, review_id, a_note_sha, a_commit, a_gate_sha, kind in events:
        assert (model_id, note, kind) == (MODEL_ID, CLAIM_NOTE, "full-review")
        assert review_id == written[gate]["gate_review_id"]
        assert (a_note_sha, a_commit, a_gate_sha) == (note_sha, commit, gate_shas[gate])
    assert one(
        db, "SELECT COUNT(*) FROM current_gate_acceptances WHERE model_id = ?", (MODEL_ID,)
    ) == len(accepted_gates)

    # The selector now lists only the pair whose review had no verdict.
    result = _select(cli, kb, CLAIM_NOTE, "--effort", "high")
    assert result.code == 0, result.err
    assert result.json() == [
        {
            "note_path": CLAIM_NOTE,
            "gate_id": "frontmatter/title-body-alignment",
            "reason": "missing-review",
        }
    ]
    # Another partition is not satisfied by these reviews.
    other = _select(cli, kb, CLAIM_NOTE)
    assert {p["reason"] for p in other.json()} == {"missing-review"}
    assert len(other.json()) == len(FRONTMATTER_GATES)

    check = cli("review-store", "check", "--json", cwd=kb)
    assert check.code == 0, check.out
    assert check.json()["ok"] is True


def test_applicability_skips_trait_gates_with_reasons(cli, corpus_kb: Path) -> None:
    text = (corpus_kb / PLAIN_NOTE).read_text(encoding="utf-8")
    frontmatter = text.split("---", 2)[1]
    assert "title-as-claim" not in frontmatter  # the corpus note is what this test assumes

    created = _create(cli, corpus_kb, PLAIN_NOTE, "frontmatter")
    assert created["gate_ids"] == list(UNROUTED_FRONTMATTER_GATES)
    skipped = created["skipped"]
    assert [s["gate_id"] for s in skipped] == [
        g for g in FRONTMATTER_GATES if g not in UNROUTED_FRONTMATTER_GATES
    ]
    for entry in skipped:
        assert {"gate_id", "reason"} <= entry.keys()
        assert "title-as-claim" in entry["reason"]

    db = store_of(corpus_kb)
    run_id = created["review_run_id"]
    assert rows(
        db,
        "SELECT gate_id FROM review_run_gates WHERE review_run_id = ? ORDER BY ordinal",
        (run_id,),
    ) == [(g,) for g in UNROUTED_FRONTMATTER_GATES]

    # The run covers its applicable gates only: two reviews finalize it.
    write_reviews(cli, corpus_kb, run_id, UNROUTED_FRONTMATTER_GATES)
    final = finalize(cli, corpus_kb, run_id, "--json")
    assert final.code == 0, final.err
    assert final.json()["status"] == "completed"
    assert one(db, "SELECT COUNT(*) FROM acceptance_events") == 2
    stale = _select(cli, corpus_kb, PLAIN_NOTE, "--effort", "high")
    assert stale.json() == []  # inapplicable gates are never stale


def test_naming_only_inapplicable_gates_is_refused(cli, corpus_kb: Path) -> None:
    result = create_review_run(
        cli, corpus_kb, PLAIN_NOTE, "frontmatter/title-as-claim", model=MODEL, extra=("--json",)
    )
    assert_refused(result, 1, mentions="title-as-claim")
    assert not store_of(corpus_kb).exists()


def test_gates_keep_the_order_they_were_named_in(cli, corpus_kb: Path) -> None:
    created = _create(
        cli,
        corpus_kb,
        f"./{PLAIN_NOTE}",
        "sentence/stock-phrases",
        "frontmatter/title-body-alignment",
        "sentence/stock-phrases",
        "accessibility",
    )
    assert created["note_path"] == PLAIN_NOTE  # canonical key, no ./
    assert created["gate_ids"][:2] == ["sentence/stock-phrases", "frontmatter/title-body-alignment"]
    assert created["gate_ids"][2:] == [
        "accessibility/jargon-persistence",
        "accessibility/notation-opacity",
        "accessibility/undefined-terms",
        "accessibility/unidentified-references",
    ]


def test_text_output_without_json(cli, corpus_kb: Path) -> None:
    result = create_review_run(
        cli, corpus_kb, CLAIM_NOTE, "frontmatter/claim-strength", model=MODEL
    )
    assert result.code == 0, result.err
    assert CLAIM_NOTE in result.out and "frontmatter/claim-strength" in result.out
    run_id = one(store_of(corpus_kb), "SELECT id FROM review_runs")
    wrote = write_review(cli, corpus_kb, run_id, "frontmatter/claim-strength", "FAIL")
    assert wrote.code == 0 and "fail" in wrote.out
    final = finalize(cli, corpus_kb, run_id)
    assert final.code == 0 and "completed" in final.out
