"""Moving a note with its review history (SPEC 10, `relocate-note`): the file
move and the store transaction are one step, every history row follows the
note, and the runs' canonical documents name the new path."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from helpers import reviews
from helpers.kb import EXAMPLE_KB, git
from helpers.store import ABBREV, FROST, OVERREACH, REPEATS, SEEDS, TAGS

from commonplace.errors import UserError
from commonplace.kb.files import read_file
from commonplace.lifecycle import RunStatus, fail_run
from commonplace.protocol.grammar import Pair, relocate_document, run_document
from commonplace.protocol.parser import parse_output
from commonplace.services import artifacts, runs
from commonplace.services.ack import ack_gate_review
from commonplace.services.relocation import Relocation, relocate_note
from commonplace.services.selector import StaleReason, select_targets
from commonplace.store.check import check_store
from commonplace.store.connection import Store, StoreError
from commonplace.store.packing import PACKED, unpack
from commonplace.store.runs import stored_document
from commonplace.workspace import Workspace, open_workspace

MOVED = "kb/notes/weather/frost-dates.md"
TYPE_NOTE = "type/note"  # every example note is `type: kb/types/note.md`
HISTORY = ("review_runs", "gate_reviews", "acceptance_events")
TABLES = (
    *HISTORY,
    "review_batches",
    "review_run_gates",
    "snapshots",
    "model_alias_resolutions",
    "note_relocations",
)


review_text = partial(reviews.review_text, summary="Looked at the note.")


def reviewed(
    ws: Workspace, note: str, gates: Sequence[str], *, model: str = "demo", decision: str = "PASS"
) -> int:
    """A completed split-path run of `gates` on `note`, with its artifacts; its id."""
    created = runs.create_review_run(
        ws, note=note, gate_refs=gates, runner="live-agent", model=model
    )
    run = created.batch.runs[0]
    for gate_id in run.gate_ids:
        runs.write_gate_review(
            ws, review_run_id=run.review_run_id, gate=gate_id, text=review_text(decision)
        )
    outcome = runs.finalize_review_run(ws, review_run_id=run.review_run_id)
    assert outcome.status is RunStatus.COMPLETED
    return run.review_run_id


def started(ws: Workspace, note: str, gates: Sequence[str], model: str = "demo") -> int:
    created = runs.create_review_run(
        ws, note=note, gate_refs=gates, runner="live-agent", model=model
    )
    return created.batch.runs[0].review_run_id


def table_rows(store: Path, table: str) -> dict[Any, dict[str, Any]]:
    """Every row of a table, keyed by id (or by the whole row when it has none)."""
    conn = sqlite3.connect(store)
    conn.row_factory = sqlite3.Row
    try:
        out = {}
        for row in conn.execute(f"SELECT * FROM {table}"):
            record = dict(row)
            out[record.get("id", tuple(record.values()))] = record
        return out
    finally:
        conn.close()


def dump(store: Path) -> dict[str, Any]:
    """Every row, its compressed texts read as the store reads them."""
    tables = {t: table_rows(store, t) for t in TABLES}
    for table, columns in PACKED.items():
        for row in tables[table].values():
            for column in columns:
                row[column] = unpack(row[column], row.pop(f"{column}_z"))
    return tables


def note_paths(store: Path) -> dict[str, dict[str, set[int]]]:
    """{table: {note_path: {row ids}}} of the history tables."""
    out: dict[str, dict[str, set[int]]] = {}
    for table in HISTORY:
        by_path: dict[str, set[int]] = {}
        for row_id, row in table_rows(store, table).items():
            by_path.setdefault(row["note_path"], set()).add(row_id)
        out[table] = by_path
    return out


def status(kb: Path) -> str:
    """`git status` of everything but the run artifacts under kb/reports."""
    return git(kb, "status", "--porcelain", "--untracked-files=all", "--", ".", ":!kb/reports")


def stale_for(ws: Workspace, note: str, model: str = "demo") -> list[tuple[str, str]]:
    here = open_workspace(db=ws.store.path, cwd=ws.cwd)
    selection = select_targets(here, gate_refs=[], model=model)
    return [(p.gate_id, p.reason) for p in selection.pairs if p.note_path == note]


@pytest.fixture
def history(ws: Workspace) -> dict[str, int]:
    """FROST with two demo runs, a run of another partition, a failed run and an
    ack of two gates; SEEDS with a run of its own. Returns the run ids by name."""
    ids = {
        "clarity": reviewed(ws, FROST, ["clarity"]),
        "claims": reviewed(ws, FROST, ["claims"], decision="WARN"),
        "other": reviewed(ws, FROST, [TAGS], model="other-model"),
        "failed": started(ws, FROST, [TAGS]),
        "seeds": reviewed(ws, SEEDS, ["clarity"]),
    }
    fail_run(ws.store, ids["failed"], "the reviewer gave up")
    ack_gate_review(ws, note_ref=FROST, gate_refs=[TAGS, TYPE_NOTE], model="demo")
    return ids


def test_every_history_row_follows_the_note(
    ws: Workspace, example_kb: Path, history: dict[str, int]
) -> None:
    db = ws.store.path
    before = dump(db)
    paths = note_paths(db)
    assert stale_for(ws, FROST) == []

    moved = relocate_note(ws, FROST, MOVED)

    frost = {t: paths[t][FROST] for t in HISTORY}
    assert moved == Relocation(
        FROST,
        MOVED,
        "git mv",
        len(frost["review_runs"]),
        len(frost["gate_reviews"]),
        len(frost["acceptance_events"]),
    )
    # 4 runs (one failed), 4 gate reviews, 4 full-review acceptances and 2 acks.
    assert (moved.review_runs, moved.gate_reviews, moved.acceptance_events) == (4, 4, 6)
    after = dump(db)
    # The same rows (same ids), now under the new path; other notes untouched.
    moved_paths = note_paths(db)
    for table in HISTORY:
        assert FROST not in moved_paths[table]
        assert moved_paths[table][MOVED] == frost[table]
        assert moved_paths[table][SEEDS] == paths[table][SEEDS]
        for row_id, row in before[table].items():
            expected = dict(row)
            if row["note_path"] == FROST:
                expected["note_path"] = MOVED
                if table == "review_runs" and row["raw_bundle_markdown"] is not None:
                    token = before["review_batches"][row["batch_id"]]["boundary_token"]
                    assert token
                    expected["raw_bundle_markdown"] = relocate_document(
                        row["raw_bundle_markdown"], FROST, MOVED, token=token
                    )
            assert after[table][row_id] == expected
    for table in ("review_batches", "review_run_gates", "snapshots"):
        assert after[table] == before[table]
    [relocation] = after["note_relocations"].values()
    assert relocation["old_path"] == FROST and relocation["new_path"] == MOVED
    assert (
        relocation["review_runs"],
        relocation["gate_reviews"],
        relocation["acceptance_events"],
    ) == (4, 4, 6)
    assert relocation["relocated_at"].endswith("Z")

    assert not (example_kb / FROST).exists()
    assert (example_kb / MOVED).is_file()
    assert check_store(ws.store).ok
    # Snapshots are keyed by content: the unchanged note is fresh where it is now.
    assert stale_for(ws, MOVED) == []
    assert stale_for(ws, MOVED, model="other-model") == [
        (g, StaleReason.MISSING_REVIEW) for g in (OVERREACH, REPEATS, ABBREV, TYPE_NOTE)
    ]


def _token_of(ws: Workspace, run_id: int) -> str:
    with ws.store.read() as conn:
        (token,) = conn.execute(
            "SELECT b.boundary_token FROM review_runs r JOIN review_batches b"
            " ON b.id = r.batch_id WHERE r.id = ?",
            (run_id,),
        ).fetchone()
    return str(token)


def test_a_tracked_note_moves_with_git_mv(ws: Workspace, example_kb: Path, history: object) -> None:
    assert status(example_kb) == ""
    relocate_note(ws, FROST, MOVED)
    assert status(example_kb).splitlines() == [f"R  {FROST} -> {MOVED}"]


def test_runs_documents_name_the_new_path(
    ws: Workspace, example_kb: Path, history: dict[str, int]
) -> None:
    ids = [history["clarity"], history["claims"], history["other"]]
    folders = {i: artifacts.run_dir(ws.config, i) for i in ids}
    old_bodies = {}
    gate_files = {}
    for run_id, folder in folders.items():
        text = (folder / artifacts.OUTPUT).read_text(encoding="utf-8")
        assert f"Note: {FROST}" in text
        gates = [g for g in _gates_of(ws, run_id)]
        pairs = [Pair(FROST, g) for g in gates]
        old_bodies[run_id] = parse_output(text, pairs, token=_token_of(ws, run_id)).bodies
        gate_files[run_id] = {
            p.name: p.read_bytes() for p in folder.iterdir() if p.name != artifacts.OUTPUT
        }
    seeds_output = artifacts.run_dir(ws.config, history["seeds"]) / artifacts.OUTPUT
    seeds_before = seeds_output.read_bytes()

    relocate_note(ws, FROST, MOVED)

    with ws.store.read() as conn:
        stored = {run_id: stored_document(conn, run_id) for run_id in history.values()}
    for run_id, folder in folders.items():
        text = (folder / artifacts.OUTPUT).read_text(encoding="utf-8")
        assert text == stored[run_id]
        assert FROST not in text
        assert f"Note: {MOVED}" in text
        gates = _gates_of(ws, run_id)
        parsed = parse_output(text, [Pair(MOVED, g) for g in gates], token=_token_of(ws, run_id))
        assert parsed.missing == ()
        assert {p.gate_id: b for p, b in parsed.bodies.items()} == {
            p.gate_id: b for p, b in old_bodies[run_id].items()
        }
        # The per-gate files hold review text only, and stay as they were.
        assert {
            p.name: p.read_bytes() for p in folder.iterdir() if p.name != artifacts.OUTPUT
        } == gate_files[run_id]
    # A failed run without a document has none afterwards either.
    assert stored[history["failed"]] is None
    assert not (artifacts.run_dir(ws.config, history["failed"]) / artifacts.OUTPUT).exists()
    assert seeds_output.read_bytes() == seeds_before


def _gates_of(ws: Workspace, run_id: int) -> list[str]:
    with ws.store.read() as conn:
        return [
            r[0]
            for r in conn.execute(
                "SELECT gate_id FROM review_run_gates WHERE review_run_id = ? ORDER BY ordinal",
                (run_id,),
            )
        ]


def test_a_failed_move_leaves_store_and_files_as_they_were(
    ws: Workspace, example_kb: Path, history: object
) -> None:
    before, text = dump(ws.store.path), (example_kb / FROST).read_bytes()
    lock = example_kb / ".git" / "index.lock"
    lock.write_text("")  # another git process holds the index: `git mv` fails
    try:
        with pytest.raises(UserError, match="git mv"):
            relocate_note(ws, FROST, MOVED)
    finally:
        lock.unlink()
    assert dump(ws.store.path) == before
    assert (example_kb / FROST).read_bytes() == text
    assert not (example_kb / MOVED).exists()
    assert status(example_kb) == ""


def test_a_failed_rename_of_an_untracked_note_rolls_back(
    ws: Workspace, example_kb: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    draft = "kb/notes/draft.md"
    shutil.copy(example_kb / FROST, example_kb / draft)
    reviewed(ws, draft, ["clarity"])
    before = dump(ws.store.path)

    def refuse(src: object, dst: object, **_: object) -> None:
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr("commonplace.services.relocation.os.rename", refuse)
    with pytest.raises(UserError, match=re.escape("cannot move kb/notes/draft.md")):
        relocate_note(ws, draft, "kb/notes/drafts/draft.md")
    assert dump(ws.store.path) == before
    assert (example_kb / draft).is_file()


class CommitFails(Store):
    """A store whose write transactions fail at commit time."""

    @contextmanager
    def write(self, *, create: bool = True) -> Iterator[sqlite3.Connection]:
        with super().write(create=create) as conn:
            yield conn
            raise sqlite3.OperationalError("disk I/O error")


def test_when_the_commit_fails_the_file_moves_back(
    ws: Workspace, example_kb: Path, history: object
) -> None:
    before, tree = dump(ws.store.path), status(example_kb)
    failing = Workspace(config=ws.config, store=CommitFails(ws.store.path), cwd=ws.cwd)
    with pytest.raises(StoreError, match="disk I/O error"):
        relocate_note(failing, FROST, MOVED)
    failing.store.close()
    assert dump(ws.store.path) == before
    assert (example_kb / FROST).is_file()
    assert not (example_kb / MOVED).exists()
    assert status(example_kb) == tree == ""


def test_an_untracked_note_is_renamed(ws: Workspace, example_kb: Path) -> None:
    draft, target = "kb/notes/draft.md", "kb/notes/topics/draft.md"
    shutil.copy(example_kb / FROST, example_kb / draft)
    run_id = reviewed(ws, draft, ["clarity"])
    moved = relocate_note(ws, draft, target)
    assert (moved.moved_by, moved.review_runs, moved.gate_reviews) == ("rename", 1, 2)
    assert status(example_kb).splitlines() == [f"?? {target}"]
    with ws.store.read() as conn:
        assert (
            conn.execute("SELECT note_path FROM review_runs WHERE id = ?", (run_id,)).fetchone()[0]
            == target
        )
    assert stale_for(ws, target) == [
        (g, StaleReason.MISSING_REVIEW) for g in (OVERREACH, TAGS, TYPE_NOTE)
    ]


def test_already_moved_moves_only_the_history(
    ws: Workspace, example_kb: Path, history: object
) -> None:
    (example_kb / MOVED).parent.mkdir()
    git(example_kb, "mv", FROST, MOVED)
    moved = relocate_note(ws, FROST, MOVED, already_moved=True)
    assert (moved.moved_by, moved.review_runs) == ("already moved", 4)
    assert status(example_kb).splitlines() == [f"R  {FROST} -> {MOVED}"]
    assert stale_for(ws, MOVED) == []
    assert check_store(ws.store).ok


def test_dry_run_reports_and_changes_nothing(
    ws: Workspace, example_kb: Path, history: object
) -> None:
    before = dump(ws.store.path)
    dry = relocate_note(ws, FROST, MOVED, dry_run=True)
    assert dry == Relocation(FROST, MOVED, "nothing", 4, 4, 6, dry_run=True)
    assert dump(ws.store.path) == before
    assert status(example_kb) == ""
    assert not (example_kb / MOVED).parent.exists()
    real = relocate_note(ws, FROST, MOVED)
    assert (real.review_runs, real.gate_reviews, real.acceptance_events) == (4, 4, 6)


def test_without_a_store_the_file_moves_and_no_store_appears(
    ws: Workspace, example_kb: Path
) -> None:
    assert relocate_note(ws, FROST, MOVED, dry_run=True).review_runs == 0
    moved = relocate_note(ws, FROST, MOVED)
    assert moved == Relocation(FROST, MOVED, "git mv", 0, 0, 0)
    assert (example_kb / MOVED).is_file()
    assert not ws.store.path.exists()


def test_outside_git_the_file_is_renamed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    kb = tmp_path / "plain-kb"
    shutil.copytree(EXAMPLE_KB, kb)
    ws = open_workspace(db=tmp_path / "store.sqlite", cwd=kb)
    reviewed(ws, FROST, ["clarity"])
    moved = relocate_note(ws, FROST, MOVED)
    assert (moved.moved_by, moved.review_runs, moved.gate_reviews) == ("rename", 1, 2)
    assert (kb / MOVED).is_file() and not (kb / FROST).exists()
    assert stale_for(ws, MOVED) == [
        (g, StaleReason.MISSING_REVIEW) for g in (OVERREACH, TAGS, TYPE_NOTE)
    ]


def test_moving_there_and_back(ws: Workspace, example_kb: Path, history: object) -> None:
    relocate_note(ws, FROST, MOVED)
    back = relocate_note(ws, MOVED, FROST)
    assert (back.review_runs, back.gate_reviews, back.acceptance_events) == (4, 4, 6)
    assert status(example_kb) == ""  # git sees no change at all
    assert stale_for(ws, FROST) == []
    with ws.store.read() as conn:
        rows = conn.execute(
            "SELECT id, old_path, new_path FROM note_relocations ORDER BY id"
        ).fetchall()
    assert [tuple(r) for r in rows] == [(1, FROST, MOVED), (2, MOVED, FROST)]
    assert check_store(ws.store).ok


def test_new_reviews_continue_the_history(
    ws: Workspace, example_kb: Path, history: dict[str, int]
) -> None:
    relocate_note(ws, FROST, MOVED)
    (example_kb / MOVED).write_text(
        (example_kb / MOVED).read_text(encoding="utf-8") + "\nA new line.\n", encoding="utf-8"
    )
    assert {r for _, r in stale_for(ws, MOVED)} == {StaleReason.NOTE_CHANGED}
    run_id = reviewed(ws, MOVED, ["clarity", "claims", "metadata", "type"])
    assert run_id > max(history.values())
    assert stale_for(ws, MOVED) == []
    assert check_store(ws.store).ok


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (FROST, SEEDS, "already exists"),
        (FROST, FROST, "same path"),
        (f"./{FROST}", FROST, "same path"),
        ("kb/notes/absent.md", MOVED, "no note at kb/notes/absent.md"),
        (FROST, "kb/notes/frost.txt", "Markdown"),
        (FROST, "kb/frost-dates.md", "not under a scan root"),
        (FROST, "kb/notes/types/frost-dates.md", "types/"),
        (FROST, "kb/notes/topics/index.md", "index files"),
        (FROST, "kb/notes/.frost-dates.md", "hidden"),
        (FROST, "../frost-dates.md", "outside the knowledge base"),
    ],
)
def test_refusals_change_nothing(
    ws: Workspace, example_kb: Path, history: object, old: str, new: str, message: str
) -> None:
    before, tree = dump(ws.store.path), status(example_kb)
    with pytest.raises(UserError, match=message):
        relocate_note(ws, old, new)
    assert dump(ws.store.path) == before
    assert status(example_kb) == tree == ""
    assert (example_kb / FROST).is_file()


def test_refused_where_another_note_has_history(
    ws: Workspace, example_kb: Path, history: object
) -> None:
    git(example_kb, "rm", "-q", SEEDS)  # gone, but its history stays in the store
    before = dump(ws.store.path)
    with pytest.raises(UserError, match="already has review history") as info:
        relocate_note(ws, FROST, SEEDS)
    assert "1 run(s)" in info.value.message and "nothing moved" in info.value.message
    assert dump(ws.store.path) == before
    assert (example_kb / FROST).is_file() and not (example_kb / SEEDS).exists()


def test_refused_while_a_run_is_running(ws: Workspace, example_kb: Path, history: object) -> None:
    started(ws, FROST, ["clarity"])
    before = dump(ws.store.path)
    with pytest.raises(UserError, match="still running") as info:
        relocate_note(ws, FROST, MOVED)
    assert "nothing moved" in info.value.message
    with pytest.raises(UserError, match="still running"):
        relocate_note(ws, FROST, MOVED, dry_run=True)
    assert dump(ws.store.path) == before
    assert (example_kb / FROST).is_file()


def test_refused_where_git_ignores_the_new_path(
    ws: Workspace, example_kb: Path, history: object
) -> None:
    (example_kb / ".gitignore").write_text("*.private.md\nkb/notes/private/\n")
    git(example_kb, "add", ".gitignore")
    git(example_kb, "commit", "-q", "-m", "ignore")
    before = dump(ws.store.path)
    for new in ("kb/notes/frost.private.md", "kb/notes/private/frost-dates.md"):
        with pytest.raises(UserError, match="ignored by git"):
            relocate_note(ws, FROST, new)
    assert dump(ws.store.path) == before
    assert status(example_kb) == ""


def test_already_moved_refusals(ws: Workspace, example_kb: Path, history: object) -> None:
    with pytest.raises(UserError, match="still exists"):
        relocate_note(ws, FROST, MOVED, already_moved=True)
    os.rename(example_kb / FROST, example_kb / "kb/notes/elsewhere.md")
    with pytest.raises(UserError, match="no note at"):
        relocate_note(ws, FROST, MOVED, already_moved=True)


# --- the run document ------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "Batch-token_1234"])
def test_relocate_document_rewrites_the_header_and_sentinels_only(token: str | None) -> None:
    old, new = "kb/notes/a.md", "kb/notes/b/a.md"
    prose = f"### Summary\nThe note at {old} says so.\nNote: {old}\n\n## Result: PASS\n"
    texts = [("lens/g", prose), ("lens/h", "Fine.\n## Result: WARN\n")]
    document = run_document(7, old, texts, token=token)
    moved = relocate_document(document, old, new, token=token)
    assert moved == run_document(7, new, texts, token=token)
    assert relocate_document(moved, old, new, token=token) == moved  # nothing left to rewrite
    # A different note whose path merely ends the same way is left alone.
    other = run_document(8, "kb/notes/xa.md", [("lens/g", prose)], token=token)
    assert relocate_document(other, old, new, token=token) == other


@pytest.mark.parametrize("token", [None, "Batch-token_1234"])
@pytest.mark.parametrize("fence", ["```\n", ""])
def test_a_sentinel_quoted_inside_a_review_is_review_text(token: str | None, fence: str) -> None:
    old, new = "kb/notes/a.md", "kb/notes/b/a.md"
    if token is None and not fence:
        return  # v1 cannot tell an unfenced quote from a sentinel
    quoted = (
        f"### Summary\nThe note quotes a sentinel:\n\n{fence}"
        f"=== PAIR REVIEW START: {old} :: lens/g ===\n{fence}\n## Result: PASS\n"
    )
    document = run_document(7, old, [("lens/g", quoted)], token=token)
    before = parse_output(document, [Pair(old, "lens/g")], token=token).bodies[Pair(old, "lens/g")]
    moved = relocate_document(document, old, new, token=token)
    after = parse_output(moved, [Pair(new, "lens/g")], token=token).bodies[Pair(new, "lens/g")]
    assert after == before


def test_the_note_text_is_what_was_reviewed(ws: Workspace, example_kb: Path) -> None:
    """Relocation moves bytes: the note's SHA and snapshot stay valid."""
    sha = read_file(example_kb, FROST).sha
    reviewed(ws, FROST, ["clarity"])
    relocate_note(ws, FROST, MOVED)
    assert read_file(example_kb, MOVED).sha == sha
