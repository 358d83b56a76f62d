"""Refusals: each prints `error: ...` on stderr, exits 1 or 2, never shows a
traceback, and leaves the store exactly as it was (or never creates it)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.cli import (
    CREATE,
    EX_CLAIM_GATE,
    EX_CLARITY,
    EX_NOTE,
    assert_refused,
    completed_run,
    finalize,
    running_run,
    write_gate_review,
    write_review,
)
from helpers.db import dump, execute_sql, one, rows, store_of
from helpers.reviews import review


@pytest.fixture
def kb_with_store(cli, example_kb: Path) -> Path:
    """The example KB with a store holding one completed run and one running run."""
    completed_run(cli, example_kb)
    running_run(cli, example_kb)
    return example_kb


# --- create-review-run ------------------------------------------------------------

CREATE_REFUSALS = {
    "missing note": (("kb/notes/nope.md", "clarity"), "kb/notes/nope.md"),
    "missing gate": ((EX_NOTE, "clarity/no-such-gate"), "clarity/no-such-gate"),
    "missing lens": ((EX_NOTE, "no-such-lens"), "no-such-lens"),
    "absolute path outside": (("/etc/hostname", "clarity"), "outside"),
    "relative path outside": (("../outside.md", "clarity"), "outside"),
    "index file": (("kb/notes/index.md", "clarity"), "index"),
    "type file": (("kb/types/note.md", "clarity"), "kb/types/note.md"),
    "gate escaping its directory": ((EX_NOTE, "../../notes/frost-dates"), "gate"),
}


@pytest.mark.parametrize("case", sorted(CREATE_REFUSALS))
@pytest.mark.parametrize("with_store", [False, True], ids=["no-store", "store"])
def test_create_refusals_write_nothing(cli, example_kb: Path, case: str, with_store: bool) -> None:
    args, mention = CREATE_REFUSALS[case]
    (example_kb.parent / "outside.md").write_text("---\ndescription: x\n---\n# Outside\n")
    if with_store:
        completed_run(cli, example_kb)
    before = dump(store_of(example_kb))
    result = cli("create-review-run", *args, *CREATE, cwd=example_kb)
    assert_refused(result, 1, mentions=mention)
    assert dump(store_of(example_kb)) == before
    if not with_store:
        assert not store_of(example_kb).exists()
        assert not (example_kb / "kb" / "reports").exists()


def test_outside_path_through_a_subdirectory(cli, example_kb: Path) -> None:
    (example_kb.parent / "outside.md").write_text("---\ndescription: x\n---\n# Outside\n")
    result = cli(
        "create-review-run",
        "../../../outside.md",
        "clarity",
        *CREATE,
        cwd=example_kb / "kb" / "notes",
    )
    assert_refused(result, 1, mentions="outside")
    assert not store_of(example_kb).exists()


def test_dirty_gate_is_fatal_and_named(cli, kb_with_store: Path) -> None:
    kb = kb_with_store
    gate = "clarity/undefined-abbreviation"
    gate_file = kb / "kb/instructions/review-gates" / f"{gate}.md"
    gate_file.write_text(gate_file.read_text() + "\nAn uncommitted edit.\n")
    before = dump(store_of(kb))
    result = cli("create-review-run", EX_NOTE, "clarity", *CREATE, cwd=kb)
    line = assert_refused(result, 1, mentions=gate)
    assert "dirty" in line
    assert "clarity/description-repeats-title" not in line  # only the dirty one is named
    # Naming the dirty gate alone, or with a clean one, is refused the same way.
    result = cli(
        "create-review-run", EX_NOTE, "clarity/description-repeats-title", gate, *CREATE, cwd=kb
    )
    assert_refused(result, 1, mentions=gate)
    assert dump(store_of(kb)) == before
    # The clean gate alone is fine.
    ok = cli("create-review-run", EX_NOTE, "clarity/description-repeats-title", *CREATE, cwd=kb)
    assert ok.code == 0, ok.err


def test_untracked_gate_is_dirty_too(cli, example_kb: Path) -> None:
    new = example_kb / "kb/instructions/review-gates/clarity/brand-new.md"
    new.write_text("---\ndescription: new\nwatches: [body]\n---\n\nA new gate.\n")
    result = cli("create-review-run", EX_NOTE, "clarity/brand-new", *CREATE, cwd=example_kb)
    assert_refused(result, 1, mentions="clarity/brand-new")
    assert not store_of(example_kb).exists()


def test_bad_effort_is_a_usage_error(cli, example_kb: Path) -> None:
    result = cli(
        "create-review-run", EX_NOTE, "clarity", *CREATE, "--effort", "huge", cwd=example_kb
    )
    assert_refused(result, 2, mentions="huge")
    assert not store_of(example_kb).exists()
    result = cli("review-target-selector", "--model", "m", "--effort", "ultra", cwd=example_kb)
    assert_refused(result, 2)


def test_missing_required_options_are_usage_errors(cli, example_kb: Path) -> None:
    assert_refused(cli("create-review-run", EX_NOTE, "clarity", "--model", "m", cwd=example_kb), 2)
    assert_refused(cli("create-review-run", EX_NOTE, "clarity", "--runner", "x", cwd=example_kb), 2)
    assert_refused(
        cli(
            "create-review-run", EX_NOTE, "clarity", "--runner", " ", "--model", "m", cwd=example_kb
        ),
        1,
        2,
    )
    assert not store_of(example_kb).exists()


# --- write-gate-review -------------------------------------------------------------


def test_empty_stdin_is_refused(cli, kb_with_store: Path) -> None:
    run_id = one(store_of(kb_with_store), "SELECT id FROM review_runs WHERE status = 'running'")
    before = dump(store_of(kb_with_store))
    for text in ("", "  \n\n\t\n"):
        result = write_gate_review(cli, kb_with_store, run_id, EX_CLARITY[0], stdin=text)
        assert_refused(result, 1, mentions="empty")
    assert dump(store_of(kb_with_store)) == before


def test_unreadable_input_file_is_refused(cli, kb_with_store: Path, tmp_path: Path) -> None:
    run_id = one(store_of(kb_with_store), "SELECT id FROM review_runs WHERE status = 'running'")
    before = dump(store_of(kb_with_store))
    result = write_gate_review(
        cli, kb_with_store, run_id, EX_CLARITY[0], "--input-file", str(tmp_path / "missing.md")
    )
    assert_refused(result, 1, mentions="missing.md")
    binary = tmp_path / "binary.md"
    binary.write_bytes(b"\xff\xfe\x00 not text")
    result = write_gate_review(
        cli, kb_with_store, run_id, EX_CLARITY[0], "--input-file", str(binary)
    )
    assert_refused(result, 1, mentions="UTF-8")
    assert dump(store_of(kb_with_store)) == before


def test_writing_into_a_final_run_is_refused(cli, kb_with_store: Path) -> None:
    db = store_of(kb_with_store)
    done = one(db, "SELECT id FROM review_runs WHERE status = 'completed'")
    before = dump(db)
    result = write_review(cli, kb_with_store, done, EX_CLARITY[0])
    assert_refused(result, 1, mentions="completed")
    assert dump(db) == before


def test_writing_a_gate_outside_the_run_or_twice_is_refused(cli, kb_with_store: Path) -> None:
    db = store_of(kb_with_store)
    run_id = one(db, "SELECT id FROM review_runs WHERE status = 'running'")
    assert write_review(cli, kb_with_store, run_id, EX_CLARITY[0], "WARN").code == 0
    before = dump(db)
    assert_refused(
        write_review(cli, kb_with_store, run_id, EX_CLAIM_GATE), 1, mentions=EX_CLAIM_GATE
    )
    assert_refused(write_review(cli, kb_with_store, run_id, "clarity/nope"), 1)
    again = write_review(cli, kb_with_store, run_id, EX_CLARITY[0], "FAIL")
    assert_refused(again, 1, mentions=EX_CLARITY[0])
    assert dump(db) == before
    assert one(db, "SELECT decision FROM gate_reviews WHERE review_run_id = ?", (run_id,)) == "warn"


@pytest.mark.parametrize("with_store", [False, True], ids=["no-store", "store"])
def test_unknown_review_run_id(cli, example_kb: Path, with_store: bool) -> None:
    if with_store:
        completed_run(cli, example_kb)
    before = dump(store_of(example_kb))
    result = write_review(cli, example_kb, 4242, EX_CLARITY[0])
    assert_refused(result, 1, mentions="4242" if with_store else None)
    result = cli("finalize-review-run", "--review-run-id", "4242", cwd=example_kb)
    assert_refused(result, 1, mentions="4242" if with_store else None)
    assert dump(store_of(example_kb)) == before
    for bad in ("0", "-3", "abc"):
        assert_refused(cli("finalize-review-run", "--review-run-id", bad, cwd=example_kb), 2)


# --- finalize-review-run -----------------------------------------------------------


def test_finalizing_with_a_gate_missing_fails_the_run(cli, example_kb: Path) -> None:
    db = store_of(example_kb)
    run_id = running_run(cli, example_kb)
    assert write_review(cli, example_kb, run_id, EX_CLARITY[0], "PASS").code == 0
    result = finalize(cli, example_kb, run_id, "--json")
    assert result.code == 1
    payload = result.json()
    assert payload["status"] == "failed"
    assert payload["review_run_id"] == run_id
    assert EX_CLARITY[1] in payload["reason"]
    status, reason, completed_at = one(
        db, "SELECT status, failure_reason, completed_at FROM review_runs WHERE id = ?", (run_id,)
    )
    assert status == "failed" and EX_CLARITY[1] in reason and completed_at
    assert one(db, "SELECT COUNT(*) FROM acceptance_events") == 0
    # The review that was written stays as evidence; it accepts nothing.
    assert rows(db, "SELECT gate_id, decision FROM gate_reviews") == [(EX_CLARITY[0], "pass")]
    assert "Traceback" not in result.err


def test_finalizing_with_a_gate_missing_says_so_on_stderr(cli, example_kb: Path) -> None:
    """SPEC 10: messages go to stderr as `error: ...`; a failed finalize exits 1
    and must tell a user reading stderr why (naming the missing gate)."""
    for extra in ((), ("--json",)):
        run_id = running_run(cli, example_kb)
        assert write_review(cli, example_kb, run_id, EX_CLARITY[0], "PASS").code == 0
        result = finalize(cli, example_kb, run_id, *extra)
        assert_refused(result, 1, mentions=EX_CLARITY[1])


def test_finalizing_a_final_run_changes_nothing(cli, kb_with_store: Path) -> None:
    db = store_of(kb_with_store)
    done = one(db, "SELECT id FROM review_runs WHERE status = 'completed'")
    running = one(db, "SELECT id FROM review_runs WHERE status = 'running'")
    assert finalize(cli, kb_with_store, running).code == 1
    assert one(db, "SELECT status FROM review_runs WHERE id = ?", (running,)) == "failed"
    before = dump(db)
    for run_id, state in ((done, "completed"), (running, "failed")):
        result = finalize(cli, kb_with_store, run_id, "--json")
        assert_refused(result, 1, mentions=state)
        assert "already" in result.err
        assert_refused(write_review(cli, kb_with_store, run_id, EX_CLARITY[0]), 1)
    assert dump(db) == before


# --- the store itself ------------------------------------------------------------------


def test_newer_store_schema_is_refused(cli, kb_with_store: Path) -> None:
    db = store_of(kb_with_store)
    execute_sql(db, "PRAGMA user_version = 99")
    before = dump(db)
    run_id = one(db, "SELECT id FROM review_runs WHERE status = 'running'")
    commands = [
        ("create-review-run", EX_NOTE, "clarity", *CREATE),
        ("write-gate-review", "--review-run-id", str(run_id), "--gate", EX_CLARITY[0]),
        ("finalize-review-run", "--review-run-id", str(run_id)),
        ("review-target-selector", "--model", "demo-model"),
        ("ack-gate-review", EX_NOTE, "clarity", "--model", "demo-model"),
        ("reap-stale-runs", "--older-than", "0s"),
        ("review-store", "migrate"),
        ("review-store", "check"),
        ("review-store", "stats"),
    ]
    for name, *args in commands:
        result = cli(name, *args, cwd=kb_with_store, stdin=review("PASS"))
        line = assert_refused(result, 1, mentions="99")
        assert "newer" in line, (name, line)
    assert dump(db) == before


NOT_A_STORE_COMMANDS = {
    "selector": ("review-target-selector", "--model", "m"),
    "create": ("create-review-run", EX_NOTE, "clarity", *CREATE),
    "ack": ("ack-gate-review", EX_NOTE, "clarity", "--model", "m"),
    "check": ("review-store", "check"),
    "stats": ("review-store", "stats"),
    "migrate": ("review-store", "migrate"),
}


@pytest.mark.parametrize("command", sorted(NOT_A_STORE_COMMANDS))
def test_a_file_that_is_not_a_store_is_refused(
    cli, example_kb: Path, tmp_path: Path, command: str
) -> None:
    bogus = tmp_path / "not-a-db.sqlite"
    bogus.write_text("this is not SQLite\n" * 100)
    content = bogus.read_bytes()
    name, *args = NOT_A_STORE_COMMANDS[command]
    result = cli(name, *args, "--db", str(bogus), cwd=example_kb)
    assert_refused(result, 1, mentions="not-a-db.sqlite")
    assert bogus.read_bytes() == content


@pytest.mark.parametrize("command", sorted(NOT_A_STORE_COMMANDS))
def test_a_directory_as_store_is_refused(
    cli, example_kb: Path, tmp_path: Path, command: str
) -> None:
    folder = tmp_path / "a-directory"
    folder.mkdir()
    name, *args = NOT_A_STORE_COMMANDS[command]
    result = cli(name, *args, "--db", str(folder), cwd=example_kb)
    assert_refused(result, 1, mentions="a-directory")
    assert list(folder.iterdir()) == []


def test_outside_any_knowledge_base(cli, tmp_path: Path) -> None:
    nowhere = tmp_path / "nowhere"
    nowhere.mkdir()
    markers = (".git", "commonplace.toml", "pyproject.toml")
    if any((d / m).exists() for d in (nowhere, *nowhere.parents) for m in markers):
        pytest.skip("the temporary directory sits inside some project")
    result = cli("review-target-selector", "--model", "m", cwd=nowhere)
    assert_refused(result, 1, mentions="no knowledge base")


def test_reserved_separator_in_a_note_path_is_refused(cli, example_kb: Path) -> None:
    from helpers.cli import commit_paths

    odd = "kb/notes/odd :: name.md"
    (example_kb / odd).write_text("---\ndescription: odd\ntraits: []\n---\n\n# Odd\n")
    commit_paths(example_kb, odd)
    result = cli("create-review-run", odd, "clarity", *CREATE, cwd=example_kb)
    assert_refused(result, 1, mentions="::")
    assert not store_of(example_kb).exists()


@pytest.mark.parametrize("model", ["///", "", "  "])
def test_a_model_that_names_nothing_is_a_usage_error(cli, example_kb: Path, model: str) -> None:
    result = cli(
        "create-review-run", EX_NOTE, "clarity", "--runner", "x", "--model", model, cwd=example_kb
    )
    assert_refused(result, 2)
    assert not store_of(example_kb).exists()
