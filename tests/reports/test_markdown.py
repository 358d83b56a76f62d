"""The Markdown report (`review-report --format markdown --note PATH`): one
note's current reviews, rendered from the store: a table of its applicable
gates, then each review whole; and the refusals around "one note"."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.cli import (
    CLAIM_NOTE,
    EX_CLAIM_GATE,
    EX_NOTE,
    PLAIN_NOTE,
    Cli,
    Result,
    append,
    assert_refused,
    commit_paths,
)
from helpers.db import rows, store_of
from helpers.kb import git
from helpers.reviewed_corpus import (
    FOLDER,
    LOOP_NOTE,
    MODEL,
    PLAIN_SENTENCE,
    SCENARIO,
    review_pairs,
    scenario_kb,
)

from commonplace.reports.data import gather
from commonplace.workspace import open_workspace


def markdown(cli: Cli, kb: Path, *args: str, cwd: Path | None = None) -> Result:
    return cli("review-report", "--format", "markdown", *args, cwd=cwd or kb)


def rendered(cli: Cli, kb: Path, note: str, *args: str, cwd: Path | None = None) -> str:
    result = markdown(cli, kb, "--note", note, *args, cwd=cwd)
    assert result.code == 0, result.err
    assert result.err == ""
    return result.out


def applicable_gates(kb: Path, note: str) -> list[str]:
    ws = open_workspace(cwd=kb)
    try:
        return [c.gate_id for c in gather(ws, model=MODEL, note_refs=(note,)).cells]
    finally:
        ws.store.close()


def test_one_notes_reviews_rendered_whole(
    cli: Cli, tmp_path_factory: pytest.TempPathFactory
) -> None:
    kb = scenario_kb(tmp_path_factory)
    text = rendered(cli, kb, CLAIM_NOTE)

    assert text.startswith(f"# Reviews of `{CLAIM_NOTE}`\n")
    assert f"Partition `{MODEL}`" in text
    table = [line for line in text.splitlines() if line.startswith("| `")]
    gates = applicable_gates(kb, CLAIM_NOTE)
    assert [line.split("`")[1] for line in table] == gates
    reviewed = {gate: d.lower() for (note, gate), (d, _) in SCENARIO.items() if note == CLAIM_NOTE}
    for line in table:
        gate = line.split("`")[1]
        assert f"| {reviewed.get(gate, 'never-reviewed')} |" in line
        assert ("| fresh |" in line) == (gate in reviewed)

    sections = [
        line
        for line in text.splitlines()
        if line.startswith("## ") and not line.startswith("## Result:")  # the rationales' own
    ]
    assert sections == [f"## {gate}: {reviewed[gate]}" for gate in sorted(reviewed)]
    stored = rows(
        store_of(kb),
        "SELECT gate_id, rationale_markdown FROM gate_reviews WHERE note_path = ?",
        (CLAIM_NOTE,),
    )
    for gate_id, rationale in stored:
        section = text.split(f"## {gate_id}: ", 1)[1]
        # whole, its own headings two levels below the gate's section
        lines = rationale.rstrip().split("\n")
        assert "\n".join("##" + ln if ln.startswith("#") else ln for ln in lines) in section
    for other in (PLAIN_NOTE, LOOP_NOTE, PLAIN_SENTENCE):
        assert other not in text


def test_how_the_review_is_current_is_said(cli: Cli, corpus_kb: Path) -> None:
    kb = corpus_kb
    pair = (PLAIN_NOTE, "frontmatter/title-body-alignment")
    review_pairs(cli, kb, {pair: SCENARIO[pair]})
    assert "(full-review)." in rendered(cli, kb, PLAIN_NOTE)

    append(kb, PLAIN_NOTE, "\nA small addition.\n")
    commit_paths(kb, PLAIN_NOTE)
    assert "(full-review, stale: note-changed)." in rendered(cli, kb, PLAIN_NOTE)

    acked = cli("ack-gate-review", PLAIN_NOTE, pair[1], "--model", MODEL, cwd=kb)
    assert acked.code == 0, acked.err
    text = rendered(cli, kb, PLAIN_NOTE)
    assert "(trivial-change-ack)." in text
    assert f"## {pair[1]}: fail" in text


def test_the_note_is_found_from_the_working_directory(
    cli: Cli, tmp_path_factory: pytest.TempPathFactory
) -> None:
    kb = scenario_kb(tmp_path_factory)
    from_root = rendered(cli, kb, LOOP_NOTE)
    from_notes = rendered(cli, kb, "agent-is-a-tool-loop.md", cwd=kb / "kb" / "notes")
    strip = [line for line in from_root.splitlines() if not line.startswith("Partition")]
    assert [line for line in from_notes.splitlines() if not line.startswith("Partition")] == strip
    assert "## sentence/stock-phrases: warn" in from_notes


def test_markdown_takes_one_note_not_two(
    cli: Cli, tmp_path_factory: pytest.TempPathFactory
) -> None:
    result = markdown(cli, scenario_kb(tmp_path_factory), "--note", CLAIM_NOTE, PLAIN_NOTE)
    assert_refused(result, 2, mentions="--note")
    assert result.out == ""


def test_markdown_without_a_note_is_the_fix_first_order(
    cli: Cli, tmp_path_factory: pytest.TempPathFactory
) -> None:
    result = markdown(cli, scenario_kb(tmp_path_factory))
    assert result.code == 0, result.err
    listed = [
        line.split("`")[1] for line in result.out.splitlines() if line[:3] in ("1. ", "2. ", "3. ")
    ]
    # CLAIM_NOTE: a fail and a warn; PLAIN_NOTE: a fail; LOOP_NOTE: a warn
    assert listed == [CLAIM_NOTE, PLAIN_NOTE, LOOP_NOTE]


def test_a_folder_is_not_one_note(cli: Cli, tmp_path_factory: pytest.TempPathFactory) -> None:
    result = markdown(cli, scenario_kb(tmp_path_factory), "--note", FOLDER)
    assert_refused(result, 1, 2)
    assert result.out == ""


def test_a_note_that_is_gone_or_outside_is_refused(cli: Cli, corpus_kb: Path) -> None:
    kb = corpus_kb
    review_pairs(cli, kb, SCENARIO)
    git(kb, "rm", "-q", LOOP_NOTE)
    git(kb, "commit", "-q", "-m", "remove")
    for note in (LOOP_NOTE, str(kb.parent)):
        result = markdown(cli, kb, "--note", note)
        assert_refused(result, 1)
        assert result.out == ""


def test_a_note_no_gate_applies_to_is_refused(cli: Cli, example_kb: Path) -> None:
    kb = example_kb
    gates = kb / "kb/instructions/review-gates"
    kept = f"{EX_CLAIM_GATE}.md"  # requires the title-as-claim trait, which EX_NOTE lacks
    for gate in gates.glob("*/*.md"):
        if gate.relative_to(gates).as_posix() != kept:
            git(kb, "rm", "-q", str(gate))
    # Without a `type:`, no type conformance gate applies to it either.
    note = kb / EX_NOTE
    text = note.read_text(encoding="utf-8")
    assert "type: kb/types/note.md\n" in text
    note.write_text(text.replace("type: kb/types/note.md\n", "", 1), encoding="utf-8")
    git(kb, "commit", "-q", "-a", "-m", "one gate, an untyped note")
    result = markdown(cli, kb, "--note", EX_NOTE, "--model", "demo")
    assert_refused(result, 1, mentions=f"no gate applies to {EX_NOTE}")
    assert result.out == ""
    assert not store_of(kb).exists()
