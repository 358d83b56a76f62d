"""`commonplace-ack-trivial-note-changes`: acks the note-changed pairs whose
change touched none of the parts their gate watches, and keeps the rest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers.cli import (
    CLAIM_NOTE,
    DEMO_MODEL,
    EX_NOTE,
    FRONTMATTER_GATES,
    assert_refused,
    blob,
    create_run,
    finalize,
    stale_pairs,
    write_reviews,
)
from helpers.db import dump, rows, store_of
from helpers.kb import commit_all, git, head

MODEL = ("--model", DEMO_MODEL)
GATES_DIR = "kb/instructions/review-gates"

SEEDS = "kb/notes/seed-packets.md"
SKETCH = "kb/notes/a-rough-sketch-beats-a-long-description-of-a-bed-layout.md"
DATE = "kb/notes/date-every-entry-before-writing-anything-else.md"

OVERREACH = "claims/overreaching-generalization"  # watches: [description, body]
TITLE_CLAIM = "claims/title-states-a-claim"  # watches: [title]; needs title-as-claim
REPEATS = "clarity/description-repeats-title"  # watches: [title, description]
ABBREV = "clarity/undefined-abbreviation"  # watches: [body]
TAGS = "metadata/tags-present"  # watches: [frontmatter]
TYPE_NOTE = "type/note"  # every example note's `type: kb/types/note.md`; watches everything
FROST_GATES = (OVERREACH, REPEATS, ABBREV, TAGS, TYPE_NOTE)  # EX_NOTE has no traits
CLAIM_GATES = (OVERREACH, TITLE_CLAIM, REPEATS, ABBREV, TAGS, TYPE_NOTE)


@pytest.fixture
def kb(swept_kb: Path) -> Path:
    return swept_kb


def edit(kb: Path, note: str, old: str, new: str) -> None:
    path = kb / note
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def commit_notes(kb: Path) -> None:
    """Commit the notes (and gates), never the store beside them."""
    git(kb, "add", "kb/notes", GATES_DIR)
    git(kb, "commit", "-q", "-m", "edit")


def ack(cli, kb: Path, *args: str) -> dict[str, Any]:
    result = cli("ack-trivial-note-changes", *MODEL, *args, "--json", cwd=kb)
    assert result.code == 0, result.err
    payload: dict[str, Any] = result.json()
    return payload


def acked_pairs(payload: dict[str, Any]) -> list[tuple[str, str]]:
    return [(a["note_path"], a["gate_id"]) for a in payload["acked"]]


def kept(payload: dict[str, Any]) -> list[tuple[str, str, list[str]]]:
    return [(k["note_path"], k["gate_id"], k["changed"]) for k in payload["not_trivial"]]


def events(kb: Path, ids: list[int]) -> list[tuple[Any, ...]]:
    return rows(
        store_of(kb),
        "SELECT id, note_path, gate_id, model_id, acceptance_kind, accepted_review_id,"
        " accepted_note_sha, accepted_note_commit, accepted_gate_sha FROM acceptance_events"
        " WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id",
        (str(ids),),
    )


def gate_sha(kb: Path, gate_id: str) -> str:
    if gate_id == TYPE_NOTE:
        return blob(kb, "kb/types/note.md")
    return blob(kb, f"{GATES_DIR}/{gate_id}.md")


def test_a_whitespace_only_change_is_acked_for_every_gate(cli, kb: Path) -> None:
    assert stale_pairs(cli, kb, *MODEL) == []
    edit(kb, EX_NOTE, "front of the notebook: the date", "front  of the notebook:\nthe date")
    edit(kb, EX_NOTE, "after the average one.\n", "after the average one.\n\n\n")
    commit_notes(kb)
    assert stale_pairs(cli, kb, *MODEL) == [(EX_NOTE, g, "note-changed") for g in FROST_GATES]

    payload = ack(cli, kb)
    assert payload["model_id"] == DEMO_MODEL
    assert payload["dry_run"] is False
    assert acked_pairs(payload) == [(EX_NOTE, g) for g in FROST_GATES]
    assert payload["not_trivial"] == []
    sha, commit = blob(kb, EX_NOTE), head(kb)
    assert all(a["note_sha"] == sha for a in payload["acked"])
    ids = [a["acceptance_event_id"] for a in payload["acked"]]
    assert events(kb, ids) == [
        (i, EX_NOTE, g, DEMO_MODEL, "trivial-change-ack", None, sha, commit, gate_sha(kb, g))
        for i, g in zip(ids, FROST_GATES, strict=True)
    ]
    assert stale_pairs(cli, kb, *MODEL) == []
    assert cli("review-store", "check", cwd=kb).code == 0
    # Nothing left to ack: a second run changes nothing.
    before = dump(store_of(kb))
    assert ack(cli, kb) == {
        "model_id": DEMO_MODEL,
        "dry_run": False,
        "acked": [],
        "not_trivial": [],
    }
    assert dump(store_of(kb)) == before


def test_a_yaml_reformat_is_acked_for_frontmatter_and_description_gates(cli, kb: Path) -> None:
    edit(kb, SEEDS, "traits: [title-as-claim]", "traits:\n  - title-as-claim")
    edit(kb, SEEDS, "tags: [seeds, notebook]", "tags:\n- seeds\n- notebook")
    edit(
        kb,
        SEEDS,
        "description: Keeping empty seed packets with the notebook so variety names and sowing"
        " advice are not lost",
        'description: "Keeping empty seed packets with the notebook so variety names\n'
        '  and sowing advice are not lost"',
    )
    commit_notes(kb)
    assert len(stale_pairs(cli, kb, *MODEL)) == len(CLAIM_GATES)
    payload = ack(cli, kb)
    assert acked_pairs(payload) == [(SEEDS, g) for g in CLAIM_GATES]
    assert payload["not_trivial"] == []
    assert stale_pairs(cli, kb, *MODEL) == []


def test_description_and_body_changes_are_kept_where_watched(cli, kb: Path) -> None:
    edit(kb, SKETCH, "faster to make", "quicker to make")  # the description, not the body
    edit(kb, SKETCH, "shows in one glance", "shows at one glance")
    commit_notes(kb)
    payload = ack(cli, kb)
    assert acked_pairs(payload) == [(SKETCH, TITLE_CLAIM)]
    # The description is part of the frontmatter too.
    assert kept(payload) == [
        (SKETCH, OVERREACH, ["description", "body"]),
        (SKETCH, REPEATS, ["description"]),
        (SKETCH, ABBREV, ["body"]),
        (SKETCH, TAGS, ["frontmatter"]),
        (SKETCH, TYPE_NOTE, ["description", "body", "frontmatter"]),
    ]
    assert stale_pairs(cli, kb, *MODEL) == [
        (SKETCH, g, "note-changed") for g in (OVERREACH, REPEATS, ABBREV, TAGS, TYPE_NOTE)
    ]


def test_a_body_only_change_is_acked_for_title_gates(cli, kb: Path) -> None:
    edit(kb, SKETCH, "shows in one glance", "shows at one glance")
    commit_notes(kb)
    payload = ack(cli, kb)
    assert acked_pairs(payload) == [(SKETCH, TITLE_CLAIM), (SKETCH, REPEATS), (SKETCH, TAGS)]
    assert kept(payload) == [
        (SKETCH, OVERREACH, ["body"]),
        (SKETCH, ABBREV, ["body"]),
        (SKETCH, TYPE_NOTE, ["body"]),
    ]


def test_a_title_change_is_kept_for_title_and_body_gates(cli, kb: Path) -> None:
    edit(kb, DATE, "# Date every entry before writing anything else", "# Date every entry first")
    commit_notes(kb)
    payload = ack(cli, kb)
    assert acked_pairs(payload) == [(DATE, TAGS)]
    assert kept(payload) == [
        (DATE, OVERREACH, ["body"]),
        (DATE, TITLE_CLAIM, ["title"]),
        (DATE, REPEATS, ["title"]),
        (DATE, ABBREV, ["body"]),
        (DATE, TYPE_NOTE, ["title", "body"]),
    ]


def test_a_tag_change_is_kept_for_the_frontmatter_gate(cli, kb: Path) -> None:
    edit(kb, EX_NOTE, "tags: [weather]", "tags: [weather, frost]")
    commit_notes(kb)
    payload = ack(cli, kb)
    assert acked_pairs(payload) == [(EX_NOTE, g) for g in (OVERREACH, REPEATS, ABBREV)]
    assert kept(payload) == [
        (EX_NOTE, TAGS, ["frontmatter"]),
        (EX_NOTE, TYPE_NOTE, ["frontmatter"]),
    ]
    assert stale_pairs(cli, kb, *MODEL) == [
        (EX_NOTE, TAGS, "note-changed"),
        (EX_NOTE, TYPE_NOTE, "note-changed"),
    ]


def test_gate_changed_and_gate_dirty_pairs_are_never_acked(cli, kb: Path) -> None:
    edit(kb, EX_NOTE, "front of the notebook: the date", "front of the notebook:  the date")
    with (kb / GATES_DIR / f"{ABBREV}.md").open("a") as handle:
        handle.write("\nAlso count unexplained units.\n")
    commit_notes(kb)
    with (kb / GATES_DIR / f"{TAGS}.md").open("a") as handle:
        handle.write("\nNot committed yet.\n")
    before = {(n, g): r for n, g, r in stale_pairs(cli, kb, *MODEL)}
    assert before[(EX_NOTE, ABBREV)] == "gate-changed"
    assert before[(EX_NOTE, TAGS)] == "gate-dirty"

    payload = ack(cli, kb)
    assert acked_pairs(payload) == [(EX_NOTE, OVERREACH), (EX_NOTE, REPEATS), (EX_NOTE, TYPE_NOTE)]
    assert payload["not_trivial"] == []
    after = {(n, g): r for n, g, r in stale_pairs(cli, kb, *MODEL)}
    assert after == {k: r for k, r in before.items() if k not in set(acked_pairs(payload))}
    assert set(after.values()) == {"gate-changed", "gate-dirty"}


def test_dry_run_writes_nothing(cli, kb: Path) -> None:
    edit(kb, EX_NOTE, "front of the notebook: the date", "front of the\nnotebook: the date")
    edit(kb, SKETCH, "shows in one glance", "shows at one glance")
    commit_notes(kb)
    db = store_of(kb)
    before = dump(db)
    dry = ack(cli, kb, "--dry-run")
    assert dump(db) == before
    assert dry["dry_run"] is True
    assert all(a["acceptance_event_id"] is None for a in dry["acked"])
    text = cli("ack-trivial-note-changes", *MODEL, "--dry-run", cwd=kb)
    assert text.code == 0, text.err
    assert dump(db) == before
    lines = text.out.splitlines()
    assert f"would ack: {EX_NOTE} {TAGS}" in lines
    assert f"kept: {SKETCH} {ABBREV} (changed: body)" in lines
    assert lines[-1] == f"would ack 8 of 11 note-changed pair(s) for {DEMO_MODEL}"
    # The real run acks exactly what the dry run announced.
    real = ack(cli, kb)
    assert acked_pairs(real) == acked_pairs(dry)
    assert kept(real) == kept(dry)
    assert all(isinstance(a["acceptance_event_id"], int) for a in real["acked"])


def test_text_output(cli, kb: Path) -> None:
    edit(kb, SKETCH, "shows in one glance", "shows at one glance")
    commit_notes(kb)
    result = cli("ack-trivial-note-changes", *MODEL, cwd=kb)
    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        f"kept: {SKETCH} {OVERREACH} (changed: body)",
        f"acked: {SKETCH} {TITLE_CLAIM}",
        f"acked: {SKETCH} {REPEATS}",
        f"kept: {SKETCH} {ABBREV} (changed: body)",
        f"acked: {SKETCH} {TAGS}",
        f"kept: {SKETCH} {TYPE_NOTE} (changed: body)",
        f"acked 3 of 6 note-changed pair(s) for {DEMO_MODEL}",
    ]


def test_gates_and_notes_narrow_the_scope(cli, kb: Path) -> None:
    for note in (EX_NOTE, SEEDS):  # EX_NOTE is `status: current`, SEEDS a seedling
        path = kb / note
        path.write_text(path.read_text(encoding="utf-8") + "\n\n", encoding="utf-8")
    commit_notes(kb)
    assert acked_pairs(ack(cli, kb, "clarity", "--note", SEEDS)) == [
        (SEEDS, REPEATS),
        (SEEDS, ABBREV),
    ]
    assert acked_pairs(ack(cli, kb, TAGS, "--current")) == [(EX_NOTE, TAGS)]
    assert acked_pairs(ack(cli, kb, "--note", "kb/notes/")) == [
        (EX_NOTE, OVERREACH),
        (EX_NOTE, REPEATS),
        (EX_NOTE, ABBREV),
        (EX_NOTE, TYPE_NOTE),
        (SEEDS, OVERREACH),
        (SEEDS, TITLE_CLAIM),
        (SEEDS, TAGS),
        (SEEDS, TYPE_NOTE),
    ]
    assert stale_pairs(cli, kb, *MODEL) == []


def test_other_partitions_are_neither_acked_nor_consulted(cli, kb: Path) -> None:
    edit(kb, EX_NOTE, "front of the notebook: the date", "front of the  notebook: the date")
    commit_notes(kb)
    before = dump(store_of(kb))
    other = cli("ack-trivial-note-changes", "--model", "other-model", "--json", cwd=kb)
    assert other.code == 0, other.err
    assert other.json()["acked"] == [] and other.json()["not_trivial"] == []
    assert dump(store_of(kb)) == before
    assert len(stale_pairs(cli, kb, *MODEL)) == len(FROST_GATES)


def test_an_uncommitted_trivial_change_is_acked_without_a_commit(cli, kb: Path) -> None:
    edit(kb, EX_NOTE, "front of the notebook: the date", "front of the  notebook: the date")
    payload = ack(cli, kb, "--note", EX_NOTE)
    ids = [a["acceptance_event_id"] for a in payload["acked"]]
    assert len(ids) == len(FROST_GATES)
    assert {(e[6], e[7]) for e in events(kb, ids)} == {(blob(kb, EX_NOTE), None)}
    assert stale_pairs(cli, kb, *MODEL) == []


def test_the_acked_version_is_the_next_baseline(cli, kb: Path) -> None:
    edit(kb, EX_NOTE, "front of the notebook: the date", "front of the  notebook: the date")
    commit_notes(kb)
    ack(cli, kb)
    edit(kb, EX_NOTE, "lawn thermometer", "garden thermometer")
    commit_notes(kb)
    payload = ack(cli, kb)
    assert kept(payload) == [
        (EX_NOTE, OVERREACH, ["body"]),
        (EX_NOTE, ABBREV, ["body"]),
        (EX_NOTE, TYPE_NOTE, ["body"]),
    ]
    result = cli("review-target-selector", *MODEL, "--json", cwd=kb)
    diffs = {p["gate_id"]: p.get("diff") or "" for p in result.json()}
    # The diff runs from the acked text, so it shows the word change only.
    changes = [
        line
        for line in diffs[ABBREV].splitlines()
        if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))
    ]
    assert changes == [
        "-spring frost and of the first autumn frost, as seen on the lawn thermometer.",
        "+spring frost and of the first autumn frost, as seen on the garden thermometer.",
    ]


def test_without_a_store_nothing_is_created(cli, example_kb: Path) -> None:
    for extra in ((), ("--dry-run",)):
        payload = ack(cli, example_kb, *extra)
        assert payload["acked"] == [] and payload["not_trivial"] == []
    assert not store_of(example_kb).exists()


def test_refusals(cli, kb: Path) -> None:
    before = dump(store_of(kb))
    assert_refused(cli("ack-trivial-note-changes", cwd=kb), 2, mentions="--model")
    assert_refused(cli("ack-trivial-note-changes", "nope", *MODEL, cwd=kb), 1, mentions="nope")
    outside = cli("ack-trivial-note-changes", *MODEL, "--note", "../elsewhere.md", cwd=kb)
    assert_refused(outside, 1, mentions="outside")
    assert_refused(
        cli("ack-trivial-note-changes", *MODEL, "--note", EX_NOTE, "--current", cwd=kb), 2
    )
    assert dump(store_of(kb)) == before


@pytest.mark.corpus
def test_title_gates_ack_a_body_change_on_the_corpus(cli, corpus_kb: Path) -> None:
    kb, model = corpus_kb, ("--model", "claude-opus-4-6")
    created = create_run(cli, kb, CLAIM_NOTE, "frontmatter", model=model[1])
    write_reviews(cli, kb, created["review_run_id"], FRONTMATTER_GATES)
    assert finalize(cli, kb, created["review_run_id"]).code == 0
    with (kb / CLAIM_NOTE).open("a") as handle:
        handle.write("\nOne more sentence in the body.\n")
    commit_all(kb)
    result = cli("ack-trivial-note-changes", "frontmatter", *model, "--json", cwd=kb)
    assert result.code == 0, result.err
    payload = result.json()
    # claim-strength, title-as-claim and title-composability watch the title;
    # description-discrimination the title and description; only
    # title-body-alignment watches the body.
    assert acked_pairs(payload) == [
        (CLAIM_NOTE, g) for g in FRONTMATTER_GATES if g != "frontmatter/title-body-alignment"
    ]
    assert kept(payload) == [(CLAIM_NOTE, "frontmatter/title-body-alignment", ["body"])]
    assert stale_pairs(cli, kb, "frontmatter", *model, "--note", CLAIM_NOTE) == [
        (CLAIM_NOTE, "frontmatter/title-body-alignment", "note-changed")
    ]
