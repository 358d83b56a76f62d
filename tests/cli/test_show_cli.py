"""`commonplace show NOTE [--model M] [--history] [--json]`: one note's
current decisions per partition and applicable gate, with the selector's
staleness, the reviewer's words, runner and time; its history over time
(runs, acceptances, a relocation and a rekey); refusals of paths that name
no note; hostile review text escaped."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
from helpers.cli import (
    DEMO_MODEL,
    EX_CLARITY,
    EX_NOTE,
    Cli,
    append,
    assert_refused,
    blob,
    create_run,
    finalize,
    write_gate_review,
)
from helpers.db import rows, store_of
from helpers.fake_runners import add_reviewer
from helpers.kb import git
from helpers.reviews import review_text

pytestmark = pytest.mark.both_backends


def show(cli: Cli, kb: Path, *args: str, cwd: Path | None = None) -> dict[str, Any]:
    result = cli("show", *args, "--json", cwd=cwd or kb)
    assert result.code == 0, result.err
    assert result.err == ""
    return cast(dict[str, Any], result.json())


def gates_of(partition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {g["gate_id"]: g for g in partition["gates"]}


def test_a_swept_note_shows_every_gate_fresh_with_its_review(cli: Cli, swept_kb: Path) -> None:
    kb = swept_kb
    (note, warned), *_ = rows(
        store_of(kb),
        "SELECT note_path, COUNT(*) FROM gate_reviews WHERE decision = 'warn'"
        " GROUP BY note_path ORDER BY note_path",
    )
    story = show(cli, kb, note)
    assert story["note_path"] == note
    assert story["note_sha"] == blob(kb, note)
    assert "history" not in story
    (partition,) = story["partitions"]
    assert partition["model_id"] == DEMO_MODEL
    gates = gates_of(partition)
    assert sorted(gates) == sorted(story["applicable_gates"])
    stored = rows(
        store_of(kb),
        "SELECT r.gate_id, r.decision, r.review_run_id, r.reviewed_at, run.runner"
        " FROM gate_reviews r JOIN review_runs run ON run.id = r.review_run_id"
        " WHERE r.note_path = ? ORDER BY r.gate_id",
        (note,),
    )
    assert [
        (g["gate_id"], g["decision"], g["review_run_id"], g["reviewed_at"], g["runner"])
        for g in partition["gates"]
    ] == [tuple(row) for row in stored]
    assert {g["staleness"] for g in gates.values()} == {"fresh"}
    assert {g["acceptance_kind"] for g in gates.values()} == {"full-review"}
    assert sum(g["decision"] == "warn" for g in gates.values()) == warned
    for gate in gates.values():
        if gate["decision"] == "warn":
            assert gate["findings"] and gate["findings"][0]["severity"] == "warn"

    text = cli("show", note, cwd=kb)
    assert text.code == 0, text.err
    lines = text.out.splitlines()
    assert lines[0].startswith(f"{note}  (note ")
    assert f"partition {DEMO_MODEL}" in lines
    first = partition["gates"][0]
    assert f"  {first['gate_id']}: {first['decision']} [fresh]" in lines
    assert (
        f"    reviewed {first['reviewed_at']} by stand-in (run {first['review_run_id']})" in lines
    )


def test_editing_the_note_makes_its_gates_note_changed(cli: Cli, swept_kb: Path) -> None:
    append(swept_kb, EX_NOTE, "\nOne more line about frost.\n")
    (partition,) = show(cli, swept_kb, EX_NOTE)["partitions"]
    assert {g["staleness"] for g in partition["gates"]} == {"note-changed"}
    assert all(g["reviewed_note_sha"] != blob(swept_kb, EX_NOTE) for g in partition["gates"])
    text = cli("show", EX_NOTE, cwd=swept_kb).out
    assert "[note-changed]" in text and "[fresh]" not in text


def test_unreviewed_gates_and_partitions_show_the_selectors_reason(
    cli: Cli, example_kb: Path
) -> None:
    kb = example_kb
    created = create_run(cli, kb, EX_NOTE, EX_CLARITY[0])
    summary = "Checked.\n\n### Suggested Revision\nSay *frost dates* in full.\n"
    written = write_gate_review(
        cli,
        kb,
        created["review_run_id"],
        EX_CLARITY[0],
        stdin=review_text("WARN", (("WARN", "repeats the title"),), summary=summary),
    )
    assert written.code == 0, written.err
    assert finalize(cli, kb, created["review_run_id"]).code == 0

    story = show(cli, kb, EX_NOTE)
    (partition,) = story["partitions"]
    gates = gates_of(partition)
    reviewed = gates.pop(EX_CLARITY[0])
    assert (reviewed["decision"], reviewed["staleness"], reviewed["runner"]) == (
        "warn",
        "fresh",
        "live-agent",
    )
    assert reviewed["suggested_revision"] == "Say *frost dates* in full."
    assert reviewed["findings"] == [{"severity": "warn", "text": "repeats the title"}]
    assert gates and {g["staleness"] for g in gates.values()} == {"missing-review"}
    assert {g["decision"] for g in gates.values()} == {None}

    other = show(cli, kb, EX_NOTE, "--model", "gpt-5.5")
    (elsewhere,) = other["partitions"]
    assert elsewhere["model_id"] == "gpt-5-5"  # the partition id of the model
    assert {g["staleness"] for g in elsewhere["gates"]} == {"missing-review"}
    assert [g["gate_id"] for g in elsewhere["gates"]] == story["applicable_gates"]

    text = cli("show", EX_NOTE, cwd=kb).out
    assert "    suggested revision:\n      Say *frost dates* in full." in text
    assert f"  {EX_CLARITY[1]}: never reviewed [missing-review]" in text


def test_history_lists_runs_acceptances_a_rekey_and_a_relocation_oldest_first(
    cli: Cli, example_kb: Path, tmp_path: Path
) -> None:
    kb = example_kb
    add_reviewer(kb, "swap", tmp_path / "state", "--model", "served-model", "--decision", "WARN")
    done = cli(
        "run-review-bundle", EX_NOTE, "clarity", "--runner", "swap", "--model", "asked",
        "--quiet", cwd=kb,
    )  # fmt: skip
    assert done.code == 0, done.err
    new = "kb/notes/frost-dates-moved.md"
    moved = cli("relocate-note", EX_NOTE, new, cwd=kb)
    assert moved.code == 0, moved.err
    git(kb, "commit", "-q", "-m", "move")

    story = show(cli, kb, new, "--history")
    history = story["history"]
    kinds = [e["kind"] for e in history]
    assert kinds.count("run") == 1 and kinds.count("acceptance") == 2
    assert kinds.count("rekey") == 1 and kinds.count("relocation") == 1
    assert [e["at"] for e in history] == sorted(e["at"] for e in history)
    assert kinds[-1] == "relocation"
    (run,) = [e for e in history if e["kind"] == "run"]
    assert (run["runner"], run["outcome"], run["model_id"]) == ("swap", "completed", "served-model")
    (rekey,) = [e for e in history if e["kind"] == "rekey"]
    assert rekey["detail"] == "moved from partition asked to served-model"
    (move,) = [e for e in history if e["kind"] == "relocation"]
    assert move["detail"].startswith(f"{EX_NOTE} -> {new}: 1 run(s), 2 acceptance(s)")
    assert {(e["gate_id"], e["outcome"]) for e in history if e["kind"] == "acceptance"} == {
        (gate, "warn") for gate in EX_CLARITY
    }
    (partition,) = story["partitions"]
    assert partition["model_id"] == "served-model"

    text = cli("show", new, "--history", cwd=kb).out
    assert "history (oldest first)" in text
    assert f"relocation ({EX_NOTE} -> {new}: " in text
    assert "rekey served-model run " in text


# --- refusals ---------------------------------------------------------------------------


def test_a_missing_note_is_refused_with_the_close_path(cli: Cli, example_kb: Path) -> None:
    result = cli("show", "kb/notes/frost-date.md", cwd=example_kb)
    assert_refused(result, 1, mentions="note not found: kb/notes/frost-date.md")
    assert f"did you mean {EX_NOTE}?" in result.err
    assert result.out == ""
    far = cli("show", "kb/notes/zzz.md", cwd=example_kb)
    assert "did you mean" not in assert_refused(far, 1, mentions="note not found")
    as_json = cli("show", "nothing-here.md", "--json", cwd=example_kb)
    assert_refused(as_json, 1)
    assert cast(dict[str, Any], as_json.json())["exit_code"] == 1


@pytest.mark.parametrize(
    ("path", "mentions"),
    [
        ("kb/notes/topics", "is a folder"),
        ("/", "outside the knowledge base"),
        ("../elsewhere.md", "outside the knowledge base"),
        ("commonplace.toml", "is not a reviewable note"),
        ("kb/notes/index.md", "is not a reviewable note"),
        ("kb/notes/\x1b[2Jx.md", "note not found: 'kb/notes/\\x1b[2Jx.md'"),
    ],
)
def test_paths_that_name_no_note_are_refused(
    cli: Cli, example_kb: Path, path: str, mentions: str
) -> None:
    result = cli("show", path, cwd=example_kb)
    assert_refused(result, 1, mentions=mentions)
    assert "\x1b" not in result.err


def test_hostile_review_text_is_escaped_in_the_text_and_kept_in_json(
    cli: Cli, example_kb: Path
) -> None:
    kb = example_kb
    created = create_run(cli, kb, EX_NOTE, EX_CLARITY[1])
    evil = "\x1b[2J\x1b[31mforged\x07"
    body = review_text(
        "FAIL",
        (("FAIL", f"bad {evil} finding"),),
        summary=f"x\n\n### Suggested Revision\nfix {evil}\r\nmore\n",
    )
    written = write_gate_review(cli, kb, created["review_run_id"], EX_CLARITY[1], stdin=body)
    assert written.code == 0, written.err
    assert finalize(cli, kb, created["review_run_id"]).code == 0
    for command in (("show", EX_NOTE), ("warn-selector",)):
        text = cli(*command, cwd=kb)
        assert text.code == 0, text.err
        assert "\x1b" not in text.out and "\x07" not in text.out and "\r" not in text.out
        assert "\\x1b[2J\\x1b[31mforged\\x07" in text.out
    (gate,) = [g for g in show(cli, kb, EX_NOTE)["partitions"][0]["gates"] if g["decision"]]
    assert evil in gate["rationale_markdown"]
    assert gate["suggested_revision"] == f"fix {evil}\nmore"
