"""`commonplace-review-target-selector` on the real corpus: reasons, diffs,
filters, grouping, ordering, exit codes, and never creating a store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from helpers.cli import (
    CLAIM_NOTE,
    DEMO_MODEL,
    EX_NOTE,
    FRONTMATTER_GATES,
    PLAIN_NOTE,
    UNROUTED_FRONTMATTER_GATES,
    append,
    assert_refused,
    commit_paths,
    complete_run,
    create_run,
    finalize,
    stale_pairs,
    write_reviews,
)
from helpers.db import store_of

pytestmark = pytest.mark.both_backends

OPUS = "claude-opus-4-6"
MODEL = ("--model", OPUS)
GATES_DIR = "kb/instructions/review-gates"


def _select(cli, kb: Path, *args: str):
    return cli("review-target-selector", *args, *MODEL, cwd=kb)


def _select_json(cli, kb: Path, *args: str) -> list[dict]:
    result = _select(cli, kb, *args, "--json")
    assert result.code == 0, result.err
    pairs = result.json()
    assert isinstance(pairs, list)
    return pairs


def _frontmatter(path: Path) -> dict | None:
    text = path.read_text(encoding="utf-8")
    if not text.startswith("---"):
        return None
    block = text.split("\n---", 1)[0].removeprefix("---")
    try:
        data = yaml.safe_load(block)
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def _reviewable(kb: Path, under: str) -> dict[str, dict]:
    """Notes under a folder, found independently of the library: Markdown with
    frontmatter, outside `types/`, not index files."""
    found = {}
    for path in sorted((kb / under).rglob("*.md")):
        rel = path.relative_to(kb).as_posix()
        if "types" in rel.split("/")[:-1] or path.name == "index.md":
            continue
        if path.name.endswith("-index.md"):
            continue
        meta = _frontmatter(path)
        if meta is not None:
            found[rel] = meta
    return found


def test_note_changed_with_diff_and_fail_on_stale(cli, corpus_kb: Path) -> None:
    kb = corpus_kb
    complete_run(cli, kb, CLAIM_NOTE, "frontmatter", model=OPUS)
    scope = ("frontmatter", "--note", CLAIM_NOTE)
    assert _select_json(cli, kb, *scope) == []
    fresh = _select(cli, kb, *scope, "--fail-on-stale")
    assert fresh.code == 0, fresh.err
    assert "0 stale pair(s)" in fresh.out

    old_text = (kb / CLAIM_NOTE).read_text(encoding="utf-8")
    append(kb, CLAIM_NOTE, "\nA sentence added after the review.\n")
    commit_paths(kb, CLAIM_NOTE, message="edit the reviewed note")

    pairs = _select_json(cli, kb, *scope)
    assert [(p["note_path"], p["gate_id"], p["reason"]) for p in pairs] == [
        (CLAIM_NOTE, g, "note-changed") for g in FRONTMATTER_GATES
    ]
    diff = pairs[0]["diff"]
    assert diff.startswith(f"--- a/{CLAIM_NOTE}\n+++ b/{CLAIM_NOTE}\n")
    assert "\n+A sentence added after the review.\n" in diff
    assert all(p["diff"] == diff for p in pairs)  # one diff per note
    removed = [line for line in diff.splitlines() if line.startswith("-") and line[:3] != "---"]
    assert removed == []
    assert old_text.splitlines()[-1] in diff  # context from the accepted snapshot

    stale = _select(cli, kb, *scope, "--fail-on-stale")
    assert stale.code == 1
    assert "Traceback" not in stale.err
    stale_json = _select(cli, kb, *scope, "--fail-on-stale", "--json")
    assert stale_json.code == 1 and len(stale_json.json()) == len(FRONTMATTER_GATES)

    # --reason filters; repeatable.
    assert _select_json(cli, kb, *scope, "--reason", "missing-review") == []
    assert len(_select_json(cli, kb, *scope, "--reason", "note-changed")) == 5
    assert (
        len(_select_json(cli, kb, *scope, "--reason", "gate-changed", "--reason", "note-changed"))
        == 5
    )
    filtered = _select(cli, kb, *scope, "--reason", "missing-review", "--fail-on-stale")
    assert filtered.code == 0  # nothing stale for that reason
    assert_refused(_select(cli, kb, *scope, "--reason", "bogus"), 2)

    # Text mode carries no diff.
    text = _select(cli, kb, *scope)
    assert "--- a/" not in text.out and "note-changed" in text.out


def test_uncommitted_note_edit_is_note_changed_too(cli, corpus_kb: Path) -> None:
    complete_run(cli, corpus_kb, PLAIN_NOTE, "frontmatter", model=OPUS)
    append(corpus_kb, PLAIN_NOTE, "\nNot committed yet.\n")
    pairs = _select_json(cli, corpus_kb, "frontmatter", "--note", PLAIN_NOTE)
    assert [(p["gate_id"], p["reason"]) for p in pairs] == [
        (g, "note-changed") for g in UNROUTED_FRONTMATTER_GATES
    ]
    assert "+Not committed yet." in pairs[0]["diff"]


def test_gate_changed_and_gate_dirty(cli, corpus_kb: Path) -> None:
    kb = corpus_kb
    complete_run(cli, kb, CLAIM_NOTE, "frontmatter", model=OPUS)
    gate = "frontmatter/title-as-claim"
    gate_file = f"{GATES_DIR}/{gate}.md"

    append(kb, gate_file, "\nAn uncommitted clarification.\n")
    pairs = _select_json(cli, kb, "frontmatter", "--note", CLAIM_NOTE, PLAIN_NOTE)
    assert [(p["note_path"], p["gate_id"], p["reason"]) for p in pairs] == [
        (CLAIM_NOTE, gate, "gate-dirty"),
        *((PLAIN_NOTE, g, "missing-review") for g in UNROUTED_FRONTMATTER_GATES),
    ]
    assert _select_json(cli, kb, gate, "--reason", "gate-dirty", "--note", CLAIM_NOTE) == [
        {"note_path": CLAIM_NOTE, "gate_id": gate, "reason": "gate-dirty"}
    ]
    # Every note the gate applies to says gate-dirty, reviewed or not.
    everywhere = _select_json(cli, kb, gate)
    assert everywhere and {p["reason"] for p in everywhere} == {"gate-dirty"}

    commit_paths(kb, gate_file, message="clarify the gate")
    pairs = _select_json(cli, kb, "frontmatter", "--note", CLAIM_NOTE)
    assert [(p["gate_id"], p["reason"]) for p in pairs] == [(gate, "gate-changed")]
    assert "diff" not in pairs[0]


def test_text_mode_groups_by_note(cli, corpus_kb: Path) -> None:
    result = _select(cli, corpus_kb, "frontmatter", "--note", PLAIN_NOTE, CLAIM_NOTE)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == CLAIM_NOTE  # sorted: a-derived... before ad-hoc...
    assert lines[1:6] == [f"  - {g} (missing-review)" for g in FRONTMATTER_GATES]
    assert lines[6] == PLAIN_NOTE
    assert lines[7:9] == [f"  - {g} (missing-review)" for g in UNROUTED_FRONTMATTER_GATES]
    assert len(lines) == 10
    assert lines[9].startswith("7 stale pair(s) in 2 note(s)")
    assert "claude-opus-4-6" in lines[9]
    assert result.err == ""


def test_output_sorted_by_note_then_gate_over_the_corpus(cli, corpus_kb: Path) -> None:
    kb = corpus_kb
    pairs = _select_json(cli, kb, "--all-gates")
    keys = [(p["note_path"], p["gate_id"]) for p in pairs]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)
    assert {p["reason"] for p in pairs} == {"missing-review"}
    notes = {p["note_path"] for p in pairs}
    assert len(notes) > 250
    assert all(n.startswith(("kb/notes/", "kb/reference/")) for n in notes)
    assert not any("/types/" in n or n.endswith("index.md") for n in notes)
    # Default (no gates named) is every gate, same answer.
    assert _select_json(cli, kb) == pairs
    # Trait-routed gates only for notes with the trait.
    for p in pairs:
        if p["gate_id"] == "frontmatter/title-as-claim":
            meta = _frontmatter(kb / p["note_path"]) or {}
            assert "title-as-claim" in (meta.get("traits") or []), p["note_path"]
    assert not store_of(kb).exists()


def test_current_limits_to_status_current(cli, corpus_kb: Path) -> None:
    gate = "frontmatter/description-discrimination"  # applies to every note
    pairs = _select_json(cli, corpus_kb, gate, "--current")
    expected = {
        key
        for root in ("kb/notes", "kb/reference")
        for key, meta in _reviewable(corpus_kb, root).items()
        if meta.get("status") == "current"
    }
    assert len(expected) > 50
    assert {p["note_path"] for p in pairs} == expected
    assert all(p["gate_id"] == gate for p in pairs)
    everything = _select_json(cli, corpus_kb, gate)
    assert len(everything) > len(pairs)
    assert_refused(_select(cli, corpus_kb, gate, "--current", "--note", PLAIN_NOTE), 2)


def test_note_argument_takes_a_directory(cli, corpus_kb: Path) -> None:
    folder = "kb/notes/agent-memory-requirements"
    gate = "frontmatter/description-discrimination"
    expected = set(_reviewable(corpus_kb, folder))
    assert len(expected) > 3
    pairs = _select_json(cli, corpus_kb, gate, "--note", folder)
    assert {p["note_path"] for p in pairs} == expected
    # Trailing slash, ./ and a path from inside the folder name the same notes.
    assert _select_json(cli, corpus_kb, gate, "--note", f"./{folder}/") == pairs
    inside = cli(
        "review-target-selector", gate, *MODEL, "--note", ".", "--json", cwd=corpus_kb / folder
    )
    assert inside.code == 0, inside.err
    assert inside.json() == pairs
    # A directory and a file inside it are not listed twice.
    one_note = sorted(expected)[0]
    assert _select_json(cli, corpus_kb, gate, "--note", folder, one_note) == pairs


def test_note_outside_the_kb_or_missing_is_refused(cli, corpus_kb: Path) -> None:
    assert_refused(_select(cli, corpus_kb, "--note", "/etc/hostname"), 1, mentions="outside")
    assert_refused(_select(cli, corpus_kb, "--note", "../elsewhere"), 1)
    assert_refused(_select(cli, corpus_kb, "--note", "kb/notes/no-such-note.md"), 1)
    assert_refused(_select(cli, corpus_kb, "no-such-lens"), 1, mentions="no-such-lens")
    assert_refused(_select(cli, corpus_kb, "frontmatter", "--all-gates"), 2)
    assert not store_of(corpus_kb).exists()


def test_selector_never_creates_a_store(cli, corpus_kb: Path, tmp_path: Path) -> None:
    pairs = _select_json(cli, corpus_kb, "frontmatter", "--note", PLAIN_NOTE)
    assert len(pairs) == 2
    assert not store_of(corpus_kb).exists()
    assert not (corpus_kb / "kb/reports").exists()
    elsewhere = tmp_path / "elsewhere" / "store.sqlite"
    assert_refused(_select(cli, corpus_kb, "--db", str(elsewhere)), 1, mentions="--db")
    assert not elsewhere.exists() and not elsewhere.parent.exists()
    assert _select(cli, corpus_kb, "--fail-on-stale").code == 1
    assert sorted(os.listdir(corpus_kb / "kb")) == ["instructions", "notes", "reference", "types"]


def test_db_option_and_environment_choose_the_store(
    cli, corpus_kb: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kb = corpus_kb
    db = tmp_path / "stores" / "review.sqlite"
    created = create_run(cli, kb, PLAIN_NOTE, "frontmatter", model=OPUS, extra=("--db", str(db)))
    assert db.exists() and not store_of(kb).exists()
    run_id = str(created["review_run_id"])
    # The environment variable names the same store for the next commands.
    monkeypatch.setenv("COMMONPLACE_REVIEW_DB", str(db))
    write_reviews(cli, kb, run_id, UNROUTED_FRONTMATTER_GATES)
    assert finalize(cli, kb, run_id).code == 0
    assert not store_of(kb).exists()
    assert _select_json(cli, kb, "frontmatter", "--note", PLAIN_NOTE) == []
    # --db wins over the environment; one naming no file is refused, not read as empty.
    other = tmp_path / "other.sqlite"
    missing = _select(cli, kb, "frontmatter", "--note", PLAIN_NOTE, "--db", str(other), "--json")
    assert_refused(missing, 1, mentions=str(other))
    assert not other.exists()
    monkeypatch.delenv("COMMONPLACE_REVIEW_DB")
    assert len(_select_json(cli, kb, "frontmatter", "--note", PLAIN_NOTE)) == 2
    assert _select_json(cli, kb, "frontmatter", "--note", PLAIN_NOTE, "--db", str(db)) == []
    # A relative --db is taken from the working directory.
    rel = cli(
        "review-target-selector",
        "frontmatter",
        *MODEL,
        "--note",
        PLAIN_NOTE,
        "--json",
        "--db",
        os.path.relpath(db, kb / "kb"),
        cwd=kb / "kb",
    )
    assert rel.code == 0 and rel.json() == []


# --- symbolic links in a scan root (example KB: small and fast) -----------------------

EX_MODEL = ("--model", DEMO_MODEL)


def test_scan_does_not_follow_a_symlink_out_of_the_kb(
    cli, example_kb: Path, tmp_path: Path
) -> None:
    """SPEC 13: paths cannot escape the KB. An explicit path to the link is
    refused as outside the KB; scanning must not pick it up either."""
    secret = tmp_path / "private" / "diary.md"
    secret.parent.mkdir()
    secret.write_text("---\ndescription: private\n---\n\n# Not part of the KB\n")
    link = "kb/notes/diary.md"
    (example_kb / link).symlink_to(secret)
    commit_paths(example_kb, link)
    assert_refused(
        cli("create-review-run", link, "clarity", "--runner", "x", *EX_MODEL, cwd=example_kb),
        1,
        mentions="outside",
    )
    listed = {note for note, _, _ in stale_pairs(cli, example_kb, "clarity", *EX_MODEL)}
    assert EX_NOTE in listed
    assert link not in listed


def test_a_symlinked_note_does_not_stay_stale_forever(cli, example_kb: Path) -> None:
    """Every write path canonicalizes a link to its target, so a scanned link
    must name the target too; otherwise its pairs can never become fresh."""
    link = "kb/notes/frost.md"
    (example_kb / link).symlink_to("frost-dates.md")
    commit_paths(example_kb, link)
    acked = cli("ack-gate-review", link, "clarity", *EX_MODEL, "--json", cwd=example_kb)
    assert acked.code == 0, acked.err
    assert {a["note_path"] for a in acked.json()["acked"]} == {EX_NOTE}
    stale = stale_pairs(cli, example_kb, "clarity", *EX_MODEL)
    assert [p for p in stale if p[0] in (EX_NOTE, link)] == []


def test_a_symlink_loop_in_a_scan_root_is_not_a_crash(cli, example_kb: Path) -> None:
    (example_kb / "kb/notes/up").symlink_to("..")
    commit_paths(example_kb, "kb/notes/up")
    result = cli("review-target-selector", "clarity", *EX_MODEL, "--json", cwd=example_kb)
    assert "Traceback" not in result.err
    assert result.code in (0, 1), result.err  # never the unexpected-error tier
    if result.code == 0:
        keys = [(p["note_path"], p["gate_id"]) for p in result.json()]
        assert len(keys) == len(set(keys))
        assert all("/up/" not in note for note, _ in keys), keys
