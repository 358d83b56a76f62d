"""Where commands look: working directories inside the KB, model aliases and
partitions, notes that are dirty, untracked or ignored, and a KB outside git."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers.cli import (
    EX_CLARITY,
    EX_NOTE,
    append,
    assert_refused,
    blob,
    commit_paths,
    complete_run,
    stale_pairs,
)
from helpers.db import one, rows, store_of
from helpers.kb import EXAMPLE_KB, head


def _full_review(cli, kb: Path, note: str, model: str, *extra: str, cwd: Path | None = None):
    """A completed run of the clarity lens; the create and finalize payloads."""
    payload, final = complete_run(
        cli, cwd or kb, note, "clarity", model=model, extra=extra, final=("--json",)
    )
    return payload, final.json()


def test_commands_from_a_subdirectory_use_kb_keys_and_the_kb_store(cli, example_kb: Path) -> None:
    here = example_kb / "kb" / "notes"
    created, final = _full_review(cli, example_kb, "frost-dates.md", "demo-model", cwd=here)
    assert created["note_path"] == EX_NOTE
    assert final["status"] == "completed"
    assert store_of(example_kb).exists()
    assert not (here / "kb").exists()
    assert (
        stale_pairs(cli, here, "clarity", "--model", "demo-model", "--note", "frost-dates.md") == []
    )


def test_config_alias_and_effort_name_one_partition(cli, example_kb: Path) -> None:
    created, final = _full_review(cli, example_kb, EX_NOTE, "demo", "--effort", "xhigh")
    assert created["model_id"] == final["model_id"] == "demo-reviewer-1-xhigh"
    db = store_of(example_kb)
    assert rows(db, "SELECT DISTINCT model_id FROM acceptance_events") == [
        ("demo-reviewer-1-xhigh",)
    ]
    assert one(db, "SELECT requested_model FROM review_batches") == "demo"
    scope = ("clarity", "--note", EX_NOTE)
    # The alias, the resolved name, and a differently spelled name all agree...
    for model in ("demo", "demo-reviewer-1", "Demo_Reviewer.1"):
        assert stale_pairs(cli, example_kb, *scope, "--model", model, "--effort", "xhigh") == []
    # ...but another effort or no effort is another partition.
    for extra in ((), ("--effort", "high")):
        pairs = stale_pairs(cli, example_kb, *scope, "--model", "demo", *extra)
        assert {r for _, _, r in pairs} == {"missing-review"} and len(pairs) == 2


def test_a_dirty_note_is_reviewed_without_a_commit(cli, example_kb: Path) -> None:
    append(example_kb, EX_NOTE, "\nAn edit not yet committed.\n")
    _full_review(cli, example_kb, EX_NOTE, "demo-model")
    db = store_of(example_kb)
    sha, commit = one(db, "SELECT reviewed_note_sha, reviewed_note_commit FROM review_runs")
    assert sha == blob(example_kb, EX_NOTE) and commit is None
    assert rows(db, "SELECT DISTINCT accepted_note_commit FROM acceptance_events") == [(None,)]
    text = one(db, "SELECT text FROM snapshots WHERE sha = ?", (sha,))
    assert text == (example_kb / EX_NOTE).read_text(encoding="utf-8")
    # Committing the same text keeps the pairs fresh: freshness is by content.
    commit_paths(example_kb, EX_NOTE)
    assert stale_pairs(cli, example_kb, "clarity", "--model", "demo-model", "--note", EX_NOTE) == []


def test_a_clean_note_records_head(cli, example_kb: Path) -> None:
    _full_review(cli, example_kb, EX_NOTE, "demo-model")
    db = store_of(example_kb)
    assert one(db, "SELECT reviewed_note_commit FROM review_runs") == head(example_kb)
    assert rows(db, "SELECT DISTINCT accepted_note_commit FROM acceptance_events") == [
        (head(example_kb),)
    ]


def test_an_untracked_note_is_reviewable(cli, example_kb: Path) -> None:
    new = "kb/notes/new-idea.md"
    (example_kb / new).write_text("---\ndescription: new\ntraits: []\n---\n\n# New idea\n")
    assert (new, EX_CLARITY[0], "missing-review") in stale_pairs(
        cli, example_kb, "clarity", "--model", "demo-model"
    )
    created, _ = _full_review(cli, example_kb, new, "demo-model")
    assert created["note_path"] == new
    assert one(store_of(example_kb), "SELECT reviewed_note_commit FROM review_runs") is None


def test_an_ignored_note_is_neither_listed_nor_reviewable(cli, example_kb: Path) -> None:
    secret = "kb/notes/private.md"
    (example_kb / secret).write_text("---\ndescription: p\n---\n\n# Private\n")
    (example_kb / ".gitignore").write_text("kb/notes/private.md\n")
    commit_paths(example_kb, ".gitignore")
    assert all(n != secret for n, _, _ in stale_pairs(cli, example_kb, "--model", "m"))
    result = cli(
        "create-review-run", secret, "clarity", "--runner", "x", "--model", "m", cwd=example_kb
    )
    assert_refused(result, 1, mentions="ignored")
    assert_refused(
        cli("review-target-selector", "--model", "m", "--note", secret, cwd=example_kb),
        1,
        mentions="ignored",
    )
    assert not store_of(example_kb).exists()


def test_a_kb_outside_git_still_works(cli, tmp_path: Path) -> None:
    kb = tmp_path / "plain-kb"
    shutil.copytree(EXAMPLE_KB, kb)
    probe = [d for d in (kb, *kb.parents) if (d / ".git").exists()]
    if probe:
        pytest.skip(f"{probe[0]} is a git repository above the temporary directory")
    _full_review(cli, kb, EX_NOTE, "demo-model")
    db = store_of(kb)
    assert one(db, "SELECT reviewed_note_commit FROM review_runs") is None
    assert one(db, "SELECT COUNT(*) FROM acceptance_events") == 2
    # Outside git nothing is dirty: an edited gate is gate-changed, never gate-dirty.
    append(kb, f"kb/instructions/review-gates/{EX_CLARITY[0]}.md", "\nEdited.\n")
    assert stale_pairs(cli, kb, "clarity", "--model", "demo-model", "--note", EX_NOTE) == [
        (EX_NOTE, EX_CLARITY[0], "gate-changed")
    ]


def test_resolve_gates_prints_ids_shas_and_bodies(cli, example_kb: Path) -> None:
    result = cli(
        "resolve-gates", "clarity", "claims/title-states-a-claim", "--json", cwd=example_kb
    )
    assert result.code == 0, result.err
    gates = result.json()
    assert [g["gate_id"] for g in gates] == [*EX_CLARITY, "claims/title-states-a-claim"]
    for gate in gates:
        path = f"kb/instructions/review-gates/{gate['gate_id']}.md"
        assert gate["sha"] == blob(example_kb, path)
        assert not gate["text"].startswith("---")  # the body, without frontmatter
        assert gate["text"].strip() in (example_kb / path).read_text(encoding="utf-8")
    text = cli("resolve-gates", "clarity", cwd=example_kb)
    assert text.code == 0 and f"=== gate: {EX_CLARITY[0]} ===" in text.out
    assert_refused(cli("resolve-gates", "clarity/nope", cwd=example_kb), 1, mentions="clarity/nope")
    assert not store_of(example_kb).exists()
