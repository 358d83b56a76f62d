"""`commonplace-ack-gate-review`: trivial-change acceptance, all or nothing."""

from __future__ import annotations

from pathlib import Path

from helpers.cli import (
    CLAIM_NOTE,
    DEMO_MODEL,
    EX_CLAIM_GATE,
    EX_CLAIM_NOTE,
    EX_CLARITY,
    EX_NOTE,
    FRONTMATTER_GATES,
    PLAIN_NOTE,
    UNROUTED_FRONTMATTER_GATES,
    append,
    assert_refused,
    blob,
    commit_paths,
    create_run,
    finalize,
    stale_pairs,
    write_reviews,
)
from helpers.db import dump, execute_sql, one, rows, store_of
from helpers.kb import head

OPUS = "claude-opus-4-6"
MODEL = ("--model", OPUS)
DEMO = ("--model", DEMO_MODEL)


def _stale(cli, kb: Path, *args: str, model=MODEL) -> list[tuple[str, str, str]]:
    return stale_pairs(cli, kb, *args, *model)


def _acked_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("acked:")]


def test_ack_makes_changed_pairs_fresh_on_the_corpus(cli, corpus_kb: Path) -> None:
    kb, db = corpus_kb, store_of(corpus_kb)
    run_id = create_run(cli, kb, CLAIM_NOTE, "frontmatter", model=OPUS)["review_run_id"]
    write_reviews(cli, kb, run_id, FRONTMATTER_GATES)
    assert finalize(cli, kb, run_id).code == 0

    append(kb, CLAIM_NOTE, "\nA typo fix, say.\n")
    commit_paths(kb, CLAIM_NOTE)
    scope = ("frontmatter", "--note", CLAIM_NOTE)
    assert {r for _, _, r in _stale(cli, kb, *scope)} == {"note-changed"}

    acked_gates = ["frontmatter/title-as-claim", "frontmatter/claim-strength"]
    result = cli("ack-gate-review", CLAIM_NOTE, *acked_gates, *MODEL, cwd=kb)
    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        f"acked: {CLAIM_NOTE} {g} (claude-opus-4-6)" for g in acked_gates
    ]
    assert _stale(cli, kb, *scope) == [
        (CLAIM_NOTE, g, "note-changed") for g in FRONTMATTER_GATES if g not in acked_gates
    ]
    events = rows(
        db,
        "SELECT gate_id, model_id, accepted_review_id, accepted_note_sha, accepted_note_commit,"
        " accepted_gate_sha FROM acceptance_events WHERE acceptance_kind = 'trivial-change-ack'"
        " ORDER BY id",
    )
    note_sha = blob(kb, CLAIM_NOTE)
    assert events == [
        (
            g,
            "claude-opus-4-6",
            None,
            note_sha,
            head(kb),
            blob(kb, f"kb/instructions/review-gates/{g}.md"),
        )
        for g in acked_gates
    ]
    # The acked note text is snapshotted, so a later change diffs against it.
    assert one(db, "SELECT COUNT(*) FROM snapshots WHERE sha = ?", (note_sha,)) == 1

    # A lens acks only the gates that apply; JSON reports every event.
    as_json = cli("ack-gate-review", PLAIN_NOTE, "frontmatter", *MODEL, "--json", cwd=kb)
    assert as_json.code == 0, as_json.err
    acked = as_json.json()["acked"]
    assert [a["gate_id"] for a in acked] == list(UNROUTED_FRONTMATTER_GATES)
    assert all(a["note_path"] == PLAIN_NOTE and a["model_id"] == "claude-opus-4-6" for a in acked)
    assert _stale(cli, kb, "frontmatter", "--note", PLAIN_NOTE) == []
    # Another partition is not affected.
    assert len(_stale(cli, kb, "frontmatter", "--note", PLAIN_NOTE, model=DEMO)) == 2
    check = cli("review-store", "check", cwd=kb)
    assert check.code == 0, check.out


def test_expect_note_sha(cli, example_kb: Path) -> None:
    kb = example_kb
    sha = blob(kb, EX_NOTE)
    wrong = "0" * 40
    result = cli("ack-gate-review", EX_NOTE, *EX_CLARITY, *DEMO, "--expect-note-sha", wrong, cwd=kb)
    assert_refused(result, 1, mentions=wrong)
    assert _acked_lines(result.out) == []
    assert not store_of(kb).exists()

    ok = cli("ack-gate-review", EX_NOTE, *EX_CLARITY, *DEMO, "--expect-note-sha", sha, cwd=kb)
    assert ok.code == 0, ok.err
    assert len(_acked_lines(ok.out)) == 2
    assert _stale(cli, kb, "clarity", "--note", EX_NOTE, model=DEMO) == []

    # The note moves on: the inspected SHA no longer matches, nothing is acked.
    append(kb, EX_NOTE, "\nChanged after inspection.\n")
    before = dump(store_of(kb))
    again = cli("ack-gate-review", EX_NOTE, *EX_CLARITY, *DEMO, "--expect-note-sha", sha, cwd=kb)
    assert_refused(again, 1, mentions=sha)
    assert _acked_lines(again.out) == []
    assert dump(store_of(kb)) == before


def test_inapplicable_gate_acks_nothing(cli, example_kb: Path) -> None:
    kb = example_kb
    for gates in ((EX_CLAIM_GATE,), (EX_CLARITY[0], EX_CLAIM_GATE), (EX_CLAIM_GATE, "clarity")):
        result = cli("ack-gate-review", EX_NOTE, *gates, *DEMO, cwd=kb)
        assert_refused(result, 1, mentions=EX_CLAIM_GATE)
        assert _acked_lines(result.out) == []
    assert not store_of(kb).exists()
    # For a note with the trait the same gate is fine.
    ok = cli("ack-gate-review", EX_CLAIM_NOTE, EX_CLAIM_GATE, *DEMO, cwd=kb)
    assert ok.code == 0, ok.err
    assert one(store_of(kb), "SELECT COUNT(*) FROM acceptance_events") == 1


def test_ack_refuses_dirty_gates_missing_gates_and_outside_notes(cli, example_kb: Path) -> None:
    kb = example_kb
    gate_file = kb / "kb/instructions/review-gates" / f"{EX_CLARITY[1]}.md"
    gate_file.write_text(gate_file.read_text() + "\nuncommitted\n")
    assert_refused(
        cli("ack-gate-review", EX_NOTE, *EX_CLARITY, *DEMO, cwd=kb), 1, mentions=EX_CLARITY[1]
    )
    assert_refused(cli("ack-gate-review", EX_NOTE, "clarity/nope", *DEMO, cwd=kb), 1)
    assert_refused(
        cli("ack-gate-review", "/etc/hostname", EX_CLARITY[0], *DEMO, cwd=kb), 1, mentions="outside"
    )
    assert_refused(cli("ack-gate-review", "kb/notes", EX_CLARITY[0], *DEMO, cwd=kb), 1)
    assert_refused(cli("ack-gate-review", EX_NOTE, EX_CLARITY[0], cwd=kb), 2)
    assert not store_of(kb).exists()


def test_acked_lines_are_printed_only_after_commit(cli, example_kb: Path) -> None:
    """When the transaction fails half-way (the second insert is aborted by a
    trigger), nothing is acked and no `acked:` line was printed."""
    kb, db = example_kb, store_of(example_kb)
    assert cli("review-store", "migrate", cwd=kb).code == 0
    execute_sql(
        db,
        "CREATE TRIGGER refuse_second BEFORE INSERT ON acceptance_events"
        f" WHEN NEW.gate_id = '{EX_CLARITY[1]}'"
        " BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); END",
    )
    result = cli("ack-gate-review", EX_NOTE, *EX_CLARITY, *DEMO, cwd=kb)
    assert result.code != 0
    assert "Traceback" not in result.err
    assert result.err.startswith("error: ")
    assert _acked_lines(result.out) == []
    assert one(db, "SELECT COUNT(*) FROM acceptance_events") == 0
    assert one(db, "SELECT COUNT(*) FROM snapshots") == 0
    as_json = cli("ack-gate-review", EX_NOTE, *EX_CLARITY, *DEMO, "--json", cwd=kb)
    assert as_json.code != 0 and "acked" not in as_json.json()
