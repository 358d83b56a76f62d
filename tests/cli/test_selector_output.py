"""The selector's `--json` and plain text output, pinned byte for byte on a
small KB with every kind of stale pair (missing, dirty, gate changed, note
changed with its diff) and a note and a gate that cannot be reviewed: the
output is assembled from shared fragments, and these bytes are what it was
before it was."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from helpers.kb import commit_all, git

from commonplace.choices import StaleReason
from commonplace.cli import selector_output
from commonplace.kb.notes import note_facts
from commonplace.services.ack import ack_many
from commonplace.services.selector import Selection, StaleGate, StaleNote, gate_scope, note_scope
from commonplace.workspace import open_workspace

GATES = "kb/instructions/review-gates"
MODEL = ("--model", "pin-model")
FILES = {
    "commonplace.toml": "",
    f"{GATES}/style/a.md": "---\ndescription: a\n---\n# A\n\nCheck a.\n",
    f"{GATES}/style/b.md": "---\ndescription: b\n---\n# B\n\nCheck b.\n",
    f"{GATES}/style/c.md": "---\ndescription: c\n---\n# C\n\nCheck c.\n",
    f"{GATES}/style/bad.md": "---\nrequires-types: x\n---\n# Bad\n",
    f"{GATES}/x/d.md": "---\ndescription: d\n---\n# D\n\nCheck d.\n",
    "kb/notes/changed.md": "---\ntitle: changed\n---\n# Changed\n\nFirst line.\n",
    'kb/notes/é "quoted".md': "---\ntitle: q\n---\n# Quoted\n\nText.\n",
    "kb/notes/plain.md": "---\ntitle: plain\n---\n# Plain\n\nText.\n",
    "kb/notes/a :: b.md": "---\ntitle: forged\n---\n# Forged\n",
}

JSON_DIFF = (
    '"--- a/kb/notes/changed.md\\n+++ b/kb/notes/changed.md\\n@@ -4,3 +4,4 @@\\n'
    ' # Changed\\n \\n First line.\\n+Second line \\u00e9 \\"q\\" \\\\ tab\\t.\\n"'
)
JSON = (
    "[\n"
    '  {"note_path": "kb/notes/changed.md", "gate_id": "style/a", "reason": "note-changed",'
    f' "diff": {JSON_DIFF}}},\n'
    '  {"note_path": "kb/notes/changed.md", "gate_id": "style/b", "reason": "note-changed",'
    f' "diff": {JSON_DIFF}}},\n'
    '  {"note_path": "kb/notes/changed.md", "gate_id": "style/c", "reason": "gate-changed"},\n'
    '  {"note_path": "kb/notes/changed.md", "gate_id": "x/d", "reason": "gate-dirty"},\n'
    '  {"note_path": "kb/notes/plain.md", "gate_id": "style/a", "reason": "missing-review"},\n'
    '  {"note_path": "kb/notes/plain.md", "gate_id": "style/b", "reason": "missing-review"},\n'
    '  {"note_path": "kb/notes/plain.md", "gate_id": "style/c", "reason": "missing-review"},\n'
    '  {"note_path": "kb/notes/plain.md", "gate_id": "x/d", "reason": "gate-dirty"},\n'
    '  {"note_path": "kb/notes/\\u00e9 \\"quoted\\".md", "gate_id": "style/a",'
    ' "reason": "missing-review"},\n'
    '  {"note_path": "kb/notes/\\u00e9 \\"quoted\\".md", "gate_id": "style/b",'
    ' "reason": "missing-review"},\n'
    '  {"note_path": "kb/notes/\\u00e9 \\"quoted\\".md", "gate_id": "style/c",'
    ' "reason": "missing-review"},\n'
    '  {"note_path": "kb/notes/\\u00e9 \\"quoted\\".md", "gate_id": "x/d",'
    ' "reason": "gate-dirty"},\n'
    '  {"note_path": "kb/notes/a :: b.md", "gate_id": null, "reason": "unreviewable-name",'
    ' "detail": "it contains the reserved \' :: \'"},\n'
    '  {"note_path": null, "gate_id": "style/bad", "reason": "unusable-gate", "detail":'
    " \"unknown applicability key 'requires-types' (known: requires-trait, requires-type,"
    " requires_trait, requires_type); a gate whose applicability key is not read would apply"
    ' to every note"}\n'
    "]\n"
)
TEXT = (
    "kb/notes/changed.md\n"
    "  - style/a (note-changed)\n"
    "  - style/b (note-changed)\n"
    "  - style/c (gate-changed)\n"
    "  - x/d (gate-dirty)\n"
    "kb/notes/plain.md\n"
    "  - style/a (missing-review)\n"
    "  - style/b (missing-review)\n"
    "  - style/c (missing-review)\n"
    "  - x/d (gate-dirty)\n"
    'kb/notes/é "quoted".md\n'
    "  - style/a (missing-review)\n"
    "  - style/b (missing-review)\n"
    "  - style/c (missing-review)\n"
    "  - x/d (gate-dirty)\n"
    "cannot be reviewed:\n"
    "  - note 'kb/notes/a :: b.md': unreviewable-name (it contains the reserved ' :: ')\n"
    "  - gate 'style/bad': unusable-gate (unknown applicability key 'requires-types' (known:"
    " requires-trait, requires-type, requires_trait, requires_type); a gate whose applicability"
    " key is not read would apply to every note)\n"
    "12 stale pair(s) in 3 note(s) of 3 for pin-model; 2 note(s) or gate(s) cannot be reviewed\n"
)


@pytest.fixture
def kb(tmp_path: Path) -> Path:
    """changed.md accepted for style/a, b and c, then edited; style/c edited
    and committed; x/d edited and not committed."""
    root = tmp_path / "pin-kb"
    for key, text in FILES.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_text(text, encoding="utf-8")
    git(root, "init", "-q")
    commit_all(root, "initial")
    ws = open_workspace(cwd=root)
    state = ws.git_state()
    gates = {g.id: g for g in gate_scope(ws, []).gates}
    (changed,) = [n for n in note_scope(ws, state, [], False).notes if "changed" in n.key]
    assert all(gates[g].applies_to(note_facts(changed)) for g in ("style/a", "style/b"))
    model_id = ws.partition("pin-model", None).model_id
    accepted = [gates["style/a"], gates["style/b"], gates["style/c"]]
    assert ack_many(ws.store, state, [(changed, accepted)], model_id=model_id) == 3
    with (root / "kb/notes/changed.md").open("a", encoding="utf-8") as handle:
        handle.write('Second line é "q" \\ tab\t.\n')
    with (root / GATES / "style/c.md").open("a", encoding="utf-8") as handle:
        handle.write("And more.\n")
    commit_all(root, "edit")
    with (root / GATES / "x/d.md").open("a", encoding="utf-8") as handle:
        handle.write("Not committed.\n")
    return root


def test_json_output_is_pinned(cli, kb: Path) -> None:
    result = cli("review-target-selector", "--all-gates", *MODEL, "--json", cwd=kb)
    assert result.code == 0, result.err
    assert result.out == JSON


def test_text_output_is_pinned(cli, kb: Path) -> None:
    result = cli("review-target-selector", "--all-gates", *MODEL, cwd=kb)
    assert result.code == 0, result.err
    assert result.out == TEXT


def test_nothing_listed(cli, kb: Path) -> None:
    args = ("--all-gates", *MODEL, "--reason", "in-progress")
    assert cli("review-target-selector", *args, "--json", cwd=kb).out == "[]\n"
    assert (
        cli("review-target-selector", *args, cwd=kb).out == "0 stale pair(s) in 0 note(s)"
        " of 3 for pin-model\n"
    )


def test_large_output_comes_in_large_writes_with_the_same_bytes() -> None:
    """Notes sharing one list of gates and notes with lists of their own,
    past the write size: the same text as one note at a time, in few writes."""
    shared = tuple(StaleGate(f"lens/g{i}", StaleReason.MISSING_REVIEW) for i in range(40))
    own = [StaleGate("lens/g1", StaleReason.NOTE_CHANGED, diff="-a\n+b\n")]
    stale = [StaleNote(f"kb/notes/n{i:05}.md", own if i % 7 == 0 else shared) for i in range(3000)]
    writes: list[int] = []

    class Counting(io.StringIO):
        def write(self, text: str) -> int:
            writes.append(len(text))
            return super().write(text)

    out = Counting()
    selector_output.write_json(out, stale, ())
    expected = ["["]
    for i, note in enumerate(stale):
        for j, gate in enumerate(note.gates):
            pair = (
                f'  {{"note_path": "{note.note_path}", "gate_id": "{gate.gate_id}",'
                f' "reason": "{gate.reason.value}"'
                + (', "diff": "-a\\n+b\\n"' if gate.diff else "")
                + "}"
            )
            expected.append(("\n" if i == j == 0 else ",\n") + pair)
    expected.append("\n]\n")
    assert out.getvalue() == "".join(expected)
    assert len(out.getvalue()) > 8 * selector_output._WRITE_SIZE
    assert len(writes) < len(out.getvalue()) // selector_output._WRITE_SIZE + 2

    writes.clear()
    text = Counting()
    selector_output.write_text(text, Selection("m", len(stale), stale))
    lines = [
        f"{n.note_path}\n" + "".join(f"  - {g.gate_id} ({g.reason.value})\n" for g in n.gates)
        for n in stale
    ]
    pairs = sum(len(n.gates) for n in stale)
    assert (
        text.getvalue() == "".join(lines) + f"{pairs} stale pair(s) in 3000 note(s) of 3000 for m\n"
    )
    assert len(writes) < len(text.getvalue()) // selector_output._WRITE_SIZE + 2


def test_each_pair_carries_its_own_notes_diff() -> None:
    """Diffs are encoded once per note, never carried over to the next one."""
    changed = StaleReason.NOTE_CHANGED
    first, second = '-a\n+b "q"\n', "".join(["-a\n", '+b "q"\n'])  # equal, not the same
    stale = [
        StaleNote("n1.md", [StaleGate("l/g1", changed, first), StaleGate("l/g2", changed, first)]),
        StaleNote("n2.md", [StaleGate("l/g1", changed, "-\u00e9\n"), StaleGate("l/g2", changed)]),
        StaleNote("n3.md", [StaleGate("l/g2", changed, second)]),
    ]
    out = io.StringIO()
    selector_output.write_json(out, stale, ())
    expected = [
        {"note_path": n.note_path, "gate_id": g.gate_id, "reason": "note-changed"}
        | ({"diff": g.diff} if g.diff is not None else {})
        for n in stale
        for g in n.gates
    ]
    assert json.loads(out.getvalue()) == expected
    assert out.getvalue().count('"diff": "-a\\n+b \\"q\\"\\n"') == 3
