"""`commonplace-relocate-note OLD NEW`: the note moves (with `git mv` when git
tracks it) together with its whole review history, in one step, or nothing
changes at all."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers.cli import (
    DEMO_MODEL,
    EX_CLAIM_NOTE,
    EX_NOTE,
    assert_refused,
    complete_run,
    create_run_id,
    stale_pairs,
)
from helpers.commands import run_script
from helpers.db import STORE, dump, one, rows, store_of, stored_text
from helpers.kb import commit_all, git

from commonplace.protocol.grammar import Pair
from commonplace.protocol.parser import parse_output

MOVED = "kb/notes/weather/frost-dates.md"
MODEL = ("--model", DEMO_MODEL)
HISTORY = ("review_runs", "gate_reviews", "acceptance_events")


def files(kb: Path) -> dict[str, bytes]:
    """Every file of the KB but git's own and the store (compared with `dump`)."""
    out = {}
    for path in sorted(kb.rglob("*")):
        key = path.relative_to(kb).as_posix()
        if key.startswith(".git/") or key.startswith(STORE) or not path.is_file():
            continue
        out[key] = path.read_bytes()
    return out


def dirs(kb: Path) -> set[str]:
    return {
        p.relative_to(kb).as_posix()
        for p in kb.rglob("*")
        if p.is_dir() and not p.relative_to(kb).as_posix().startswith(".git")
    }


def status(kb: Path) -> list[str]:
    """`git status` lines of everything but the reports folder (artifacts, store)."""
    out = git(kb, "status", "--porcelain", "--untracked-files=all", "--", ".", ":!kb/reports")
    return out.splitlines()


def history_ids(db: Path, note: str) -> dict[str, list[int]]:
    return {
        t: [r[0] for r in rows(db, f"SELECT id FROM {t} WHERE note_path = ? ORDER BY id", (note,))]
        for t in HISTORY
    }


def test_a_reviewed_note_moves_with_its_history(cli, swept_kb: Path) -> None:
    kb, db = swept_kb, store_of(swept_kb)
    assert stale_pairs(cli, kb, *MODEL) == []
    before = history_ids(db, EX_NOTE)
    assert [len(ids) for ids in before.values()] == [4, 5, 5]  # clarity, metadata, type/note
    untouched = history_ids(db, EX_CLAIM_NOTE)

    result = cli("relocate-note", EX_NOTE, MOVED, "--json", cwd=kb)
    assert result.code == 0, result.err
    assert result.json() == {
        "old_path": EX_NOTE,
        "new_path": MOVED,
        "moved_by": "git mv",
        "review_runs": len(before["review_runs"]),
        "gate_reviews": len(before["gate_reviews"]),
        "acceptance_events": len(before["acceptance_events"]),
        "dry_run": False,
    }
    # The very rows, under the new path; nothing left under the old one.
    assert history_ids(db, MOVED) == before
    assert history_ids(db, EX_NOTE) == {t: [] for t in HISTORY}
    assert history_ids(db, EX_CLAIM_NOTE) == untouched
    assert rows(
        db,
        "SELECT old_path, new_path, review_runs, gate_reviews, acceptance_events"
        " FROM note_relocations",
    ) == [(EX_NOTE, MOVED, 4, 5, 5)]

    assert status(kb) == [f"R  {EX_NOTE} -> {MOVED}"]
    # The note did not change: it is fresh at its new path, and no pair names the old one.
    assert stale_pairs(cli, kb, *MODEL) == []
    assert stale_pairs(cli, kb, *MODEL, "--note", MOVED) == []
    assert stale_pairs(cli, kb, "--model", "another-model", "--note", MOVED) != []
    assert all(n != EX_NOTE for n, _, _ in stale_pairs(cli, kb, "--model", "another-model"))
    assert_refused(cli("review-target-selector", *MODEL, "--note", EX_NOTE, cwd=kb), 1)

    check = cli("review-store", "check", "--json", cwd=kb)
    assert check.code == 0, check.out
    assert check.json()["violations"] == []
    stats = cli("review-store", "stats", "--json", cwd=kb)
    assert stats.json()["relocations"] == 1


def test_moved_runs_documents_name_the_new_path(cli, swept_kb: Path) -> None:
    kb, db = swept_kb, store_of(swept_kb)
    run_ids = [r[0] for r in rows(db, "SELECT id FROM review_runs WHERE note_path = ?", (EX_NOTE,))]
    folder = kb / "kb/reports/bundle-reviews"
    # a sweep leaves run folders to the store: write them, as a user would
    assert cli("review-store", "artifacts", *map(str, run_ids), cwd=kb).code == 0
    before = {i: (folder / f"review-run-{i}" / "bundle-output.md").read_text() for i in run_ids}
    others = {
        p: p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and not any(p.parent.name == f"review-run-{i}" for i in run_ids)
    }
    assert cli("relocate-note", EX_NOTE, MOVED, cwd=kb).code == 0

    for run_id in run_ids:
        text = (folder / f"review-run-{run_id}" / "bundle-output.md").read_text()
        assert EX_NOTE not in text
        assert f"Note: {MOVED}" in text
        assert text == stored_text(db, "review_runs", "raw_bundle_markdown", run_id)
        gates = [
            r[0]
            for r in rows(
                db,
                "SELECT gate_id FROM review_run_gates WHERE review_run_id = ? ORDER BY ordinal",
                (run_id,),
            )
        ]
        token = one(
            db,
            "SELECT b.boundary_token FROM review_runs r JOIN review_batches b"
            " ON b.id = r.batch_id WHERE r.id = ?",
            (run_id,),
        )
        parsed = parse_output(text, [Pair(MOVED, g) for g in gates], token=token)
        assert parsed.missing == ()
        old = parse_output(before[run_id], [Pair(EX_NOTE, g) for g in gates], token=token)
        assert [(p.gate_id, b) for p, b in parsed.bodies.items()] == [
            (p.gate_id, b) for p, b in old.bodies.items()
        ]
    # Prompts, raw outputs and manifests record what reviewers were shown: unchanged.
    assert {p: p.read_bytes() for p in others} == others


def test_the_moved_document_can_be_ingested_again(cli, example_kb: Path, tmp_path: Path) -> None:
    """The rewritten bundle is valid pair grammar for the note where it is now."""
    kb = example_kb
    created, _ = complete_run(cli, kb, EX_NOTE, "clarity")
    run_id = created["review_run_id"]
    assert cli("relocate-note", EX_NOTE, MOVED, cwd=kb).code == 0
    document = kb / f"kb/reports/bundle-reviews/review-run-{run_id}/bundle-output.md"
    fresh = create_run_id(cli, kb, MOVED, "clarity")
    again = document.read_text().replace(f"Review run id: {run_id}", f"Review run id: {fresh}")
    # a later batch has its own token: the document's blocks carry the old one
    tokens = [t for (t,) in rows(store_of(kb), "SELECT boundary_token FROM review_batches")]
    again = again.replace(tokens[0], tokens[-1])
    (tmp_path / "out.md").write_text(again)
    ingested = cli(
        "ingest-bundle-output",
        "--review-run-id",
        str(fresh),
        "--input-file",
        str(tmp_path / "out.md"),
        "--json",
        cwd=kb,
    )
    assert ingested.code == 0, ingested.err
    assert ingested.json()["status"] == "completed"


def test_an_untracked_note_is_renamed(cli, example_kb: Path) -> None:
    kb, db = example_kb, store_of(example_kb)
    draft, target = "kb/notes/draft.md", "kb/notes/topics/draft.md"
    shutil.copy(kb / EX_NOTE, kb / draft)
    complete_run(cli, kb, draft, "clarity")
    result = cli("relocate-note", draft, target, "--json", cwd=kb)
    assert result.code == 0, result.err
    assert result.json()["moved_by"] == "rename"
    assert (result.json()["review_runs"], result.json()["gate_reviews"]) == (1, 2)
    assert status(kb) == [f"?? {target}"]
    assert not (kb / draft).exists()
    assert history_ids(db, draft) == {t: [] for t in HISTORY}
    assert stale_pairs(cli, kb, "clarity", *MODEL, "--note", target) == []


def test_text_output(cli, swept_kb: Path) -> None:
    result = cli("relocate-note", EX_NOTE, MOVED, cwd=swept_kb)
    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        f"moved (git mv) {EX_NOTE} -> {MOVED} with 4 run(s), 5 gate review(s),"
        " 5 acceptance event(s)"
    ]
    assert result.err == ""


def test_already_moved(cli, swept_kb: Path) -> None:
    kb = swept_kb
    (kb / MOVED).parent.mkdir()
    git(kb, "mv", EX_NOTE, MOVED)
    result = cli("relocate-note", EX_NOTE, MOVED, "--already-moved", "--json", cwd=kb)
    assert result.code == 0, result.err
    assert result.json()["moved_by"] == "already moved"
    assert result.json()["review_runs"] == 4
    assert status(kb) == [f"R  {EX_NOTE} -> {MOVED}"]
    assert stale_pairs(cli, kb, *MODEL) == []
    assert cli("review-store", "check", cwd=kb).code == 0


def test_already_moved_by_a_plain_mv(cli, swept_kb: Path) -> None:
    kb = swept_kb
    os.rename(kb / EX_CLAIM_NOTE, kb / "kb/notes/packets.md")
    result = cli("relocate-note", EX_CLAIM_NOTE, "kb/notes/packets.md", "--already-moved", cwd=kb)
    assert result.code == 0, result.err
    assert status(kb) == [f" D {EX_CLAIM_NOTE}", "?? kb/notes/packets.md"]
    assert stale_pairs(cli, kb, *MODEL) == []


def test_dry_run_changes_nothing(cli, swept_kb: Path) -> None:
    kb, db = swept_kb, store_of(swept_kb)
    before, tree, folders = dump(db), files(kb), dirs(kb)
    dry = cli("relocate-note", EX_NOTE, MOVED, "--dry-run", "--json", cwd=kb)
    assert dry.code == 0, dry.err
    assert dry.json() == {
        "old_path": EX_NOTE,
        "new_path": MOVED,
        "moved_by": "nothing",
        "review_runs": 4,
        "gate_reviews": 5,
        "acceptance_events": 5,
        "dry_run": True,
    }
    text = cli("relocate-note", EX_NOTE, MOVED, "--dry-run", cwd=kb)
    assert text.out.startswith(f"would move {EX_NOTE} -> {MOVED} with 4 run(s)")
    assert (dump(db), files(kb), dirs(kb), status(kb)) == (before, tree, folders, [])
    # What the dry run announced is what happens.
    real = cli("relocate-note", EX_NOTE, MOVED, "--json", cwd=kb).json()
    assert {k: v for k, v in real.items() if k not in ("moved_by", "dry_run")} == {
        k: v for k, v in dry.json().items() if k not in ("moved_by", "dry_run")
    }


def test_without_a_store_nothing_is_created(cli, example_kb: Path) -> None:
    kb = example_kb
    dry = cli("relocate-note", EX_NOTE, MOVED, "--dry-run", cwd=kb)
    assert dry.code == 0, dry.err
    assert not store_of(kb).exists()
    moved = cli("relocate-note", EX_NOTE, MOVED, "--json", cwd=kb)
    assert moved.code == 0, moved.err
    assert moved.json()["review_runs"] == 0
    assert not store_of(kb).exists()
    assert status(kb) == [f"R  {EX_NOTE} -> {MOVED}"]


def _running(cli, kb: Path) -> None:
    create_run_id(cli, kb, EX_NOTE, "clarity")


def _gone_with_history(cli, kb: Path) -> None:
    git(kb, "rm", "-q", EX_CLAIM_NOTE)  # the file is gone; its history is not


def _ignored(cli, kb: Path) -> None:
    (kb / ".gitignore").write_text("kb/notes/private/\n*.draft.md\n")
    git(kb, "add", ".gitignore")
    git(kb, "commit", "-q", "-m", "ignore")


def _nothing(cli, kb: Path) -> None:
    pass


REFUSALS = [
    pytest.param(_nothing, (EX_NOTE, EX_CLAIM_NOTE), "already exists", id="new-exists"),
    pytest.param(_gone_with_history, (EX_NOTE, EX_CLAIM_NOTE), "history", id="new-has-history"),
    pytest.param(_running, (EX_NOTE, MOVED), "still running", id="old-is-running"),
    pytest.param(_nothing, (EX_NOTE, "../frost-dates.md"), "outside", id="outside-the-kb"),
    pytest.param(_nothing, (EX_NOTE, "/tmp/frost-dates.md"), "outside", id="absolute-outside"),
    pytest.param(_nothing, (EX_NOTE, "kb/frost-dates.md"), "scan root", id="no-scan-root"),
    pytest.param(
        _nothing, (EX_NOTE, "kb/reports/frost-dates.md"), "scan root", id="in-the-reports"
    ),
    pytest.param(_ignored, (EX_NOTE, "kb/notes/private/frost.md"), "ignored", id="ignored-dir"),
    pytest.param(_ignored, (EX_NOTE, "kb/notes/frost.draft.md"), "ignored", id="ignored-name"),
    pytest.param(_nothing, (EX_NOTE, "kb/notes/frost-dates.txt"), ".md", id="not-markdown"),
    pytest.param(_nothing, (EX_NOTE, "kb/notes/topics/index.md"), "index", id="index-file"),
    pytest.param(_nothing, (EX_NOTE, "kb/notes/types/frost.md"), "types/", id="types-folder"),
    pytest.param(_nothing, ("kb/notes/absent.md", MOVED), "no note at", id="old-missing"),
    pytest.param(_nothing, ("kb/notes", MOVED), "no note at", id="old-is-a-folder"),
    pytest.param(_nothing, (EX_NOTE, f"./{EX_NOTE}"), "same path", id="same-path"),
    pytest.param(_nothing, (EX_NOTE, MOVED, "--already-moved"), "still exists", id="not-yet-moved"),
]


@pytest.mark.parametrize(("setup", "args", "mentions"), REFUSALS)
@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_refusals_change_nothing(
    cli,
    swept_kb: Path,
    setup: Callable[..., None],
    args: tuple[str, ...],
    mentions: str,
    as_json: bool,
) -> None:
    kb, db = swept_kb, store_of(swept_kb)
    setup(cli, kb)
    before, tree, folders, changes = dump(db), files(kb), dirs(kb), status(kb)
    result = cli("relocate-note", *args, *(["--json"] if as_json else []), cwd=kb)
    line = assert_refused(result, 1, mentions=mentions)
    assert (dump(db), files(kb), dirs(kb), status(kb)) == (before, tree, folders, changes)
    if as_json:
        assert json.loads(result.out) == {"error": line.removeprefix("error: "), "exit_code": 1}
    else:
        assert result.out == ""


def test_a_failed_git_mv_changes_nothing(cli, swept_kb: Path) -> None:
    kb, db = swept_kb, store_of(swept_kb)
    before, tree = dump(db), files(kb)
    lock = kb / ".git/index.lock"
    lock.write_text("")  # another git process holds the index
    try:
        result = cli("relocate-note", EX_NOTE, MOVED, cwd=kb)
    finally:
        lock.unlink()
    assert_refused(result, 1, mentions="git mv")
    assert (dump(db), files(kb), status(kb)) == (before, tree, [])
    assert one(db, "SELECT COUNT(*) FROM note_relocations") == 0
    # Nothing is left half-done: the same command then succeeds.
    assert cli("relocate-note", EX_NOTE, MOVED, cwd=kb).code == 0


def test_a_failed_git_mv_leaves_no_folder_behind(cli, swept_kb: Path) -> None:
    kb = swept_kb
    folders = dirs(kb)
    (kb / ".git/index.lock").write_text("")
    try:
        assert_refused(cli("relocate-note", EX_NOTE, MOVED, cwd=kb), 1)
    finally:
        (kb / ".git/index.lock").unlink()
    assert dirs(kb) == folders


def test_a_new_path_below_a_file_is_a_user_error(cli, swept_kb: Path) -> None:
    kb, db = swept_kb, store_of(swept_kb)
    before, tree = dump(db), files(kb)
    result = cli("relocate-note", EX_NOTE, f"{EX_CLAIM_NOTE}/frost-dates.md", cwd=kb)
    assert (dump(db), files(kb), status(kb)) == (before, tree, [])
    assert_refused(result, 1)


def test_paths_from_a_subdirectory(cli, swept_kb: Path) -> None:
    here = swept_kb / "kb/notes"
    result = cli("relocate-note", "./frost-dates.md", MOVED, "--json", cwd=here)
    assert result.code == 0, result.err
    assert (result.json()["old_path"], result.json()["new_path"]) == (EX_NOTE, MOVED)
    assert status(swept_kb) == [f"R  {EX_NOTE} -> {MOVED}"]


def test_a_relative_new_path_is_taken_from_the_working_directory(cli, swept_kb: Path) -> None:
    here = swept_kb / "kb/notes"
    result = cli("relocate-note", "frost-dates.md", "weather/frost-dates.md", cwd=here)
    assert result.code == 0, result.err
    assert (swept_kb / MOVED).is_file()


def test_as_a_process(swept_kb: Path) -> None:
    done = run_script("commonplace-relocate-note", [EX_NOTE, MOVED, "--json"], cwd=swept_kb)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["new_path"] == MOVED
    refused = run_script("commonplace-relocate-note", [EX_NOTE, MOVED], cwd=swept_kb)
    assert_refused(refused, 1, mentions="no note at")


def test_commit_and_review_after_the_move(cli, swept_kb: Path) -> None:
    """After committing the move, the note is clean at its new path and stays fresh;
    a later real change is stale against the accepted version."""
    kb = swept_kb
    assert cli("relocate-note", EX_NOTE, MOVED, cwd=kb).code == 0
    git(kb, "commit", "-q", "-m", "move", "--", EX_NOTE, MOVED)
    assert stale_pairs(cli, kb, *MODEL) == []
    with (kb / MOVED).open("a") as handle:
        handle.write("\nThe thermometer hangs on the north fence.\n")
    commit_all(kb, "edit")
    assert {r for n, _, r in stale_pairs(cli, kb, *MODEL)} == {"note-changed"}
    assert {n for n, _, _ in stale_pairs(cli, kb, *MODEL)} == {MOVED}
