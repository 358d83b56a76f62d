"""`commonplace.services.note_story`: one note's story from the real store
after real runs (the example KB, split-path reviews), the staleness the
selector gives, the history's order; and the suggested-revision section."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.cli import DEMO_MODEL, EX_CLARITY, EX_NOTE, Cli, append, complete_run

from commonplace.errors import UserError
from commonplace.protocol.sections import suggested_revision
from commonplace.services.note_story import FRESH, NoteStory, note_story
from commonplace.workspace import open_workspace

pytestmark = pytest.mark.both_backends


def story_of(kb: Path, ref: str = EX_NOTE, **kwargs: object) -> NoteStory:
    ws = open_workspace(cwd=kb)
    try:
        return note_story(ws, ref, **kwargs)  # type: ignore[arg-type]
    finally:
        ws.store.close()


def test_the_story_follows_reviews_edits_and_history(cli: Cli, example_kb: Path) -> None:
    kb = example_kb
    before = story_of(kb)
    assert before.partitions == ()  # no partition has history, none is configured
    assert EX_CLARITY[0] in before.applicable_gates

    created, _ = complete_run(cli, kb, EX_NOTE, "clarity", decisions=("PASS", "WARN"))
    story = story_of(kb, history=True)
    (partition,) = story.partitions
    assert partition.model_id == DEMO_MODEL
    by_gate = {g.gate_id: g for g in partition.gates}
    assert [by_gate[g].decision for g in EX_CLARITY] == ["pass", "warn"]
    assert {by_gate[g].staleness for g in EX_CLARITY} == {FRESH}
    assert {by_gate[g].runner for g in EX_CLARITY} == {"live-agent"}
    assert {by_gate[g].review_run_id for g in EX_CLARITY} == {created["review_run_id"]}
    others = [g for g in partition.gates if g.gate_id not in EX_CLARITY]
    assert others and {g.staleness for g in others} == {"missing-review"}
    assert story.history is not None
    assert [e.kind for e in story.history] == ["run", "acceptance", "acceptance"]

    append(kb, EX_NOTE, "\nchanged\n")
    edited = story_of(kb, model=DEMO_MODEL)
    assert edited.history is None
    assert {g.staleness for g in edited.partitions[0].gates if g.decision} == {"note-changed"}
    assert edited.note_sha != story.note_sha


def test_a_missing_note_is_an_error_with_the_close_path(example_kb: Path) -> None:
    with pytest.raises(UserError, match=f"did you mean {EX_NOTE}"):
        story_of(example_kb, "kb/notes/frost-dats.md")


@pytest.mark.parametrize(
    ("rationale", "revision"),
    [
        ("### Summary\nx\n### Suggested Revision\nDo this.\n## Result: WARN\n", "Do this."),
        (
            "### Suggested revision:\n  indented\n\nsecond\n### Findings\n- none\n",
            "  indented\n\nsecond",
        ),
        ("### Suggested Revision\n- none\n## Result: PASS\n", None),
        ("### Suggested Revision\n\n## Result: PASS\n", None),
        ("### Summary\nno revision\n## Result: PASS\n", None),
        ("### Suggested Revision\nat the end", "at the end"),
        ("", None),
    ],
)
def test_the_suggested_revision_section(rationale: str, revision: str | None) -> None:
    assert suggested_revision(rationale) == revision
