"""A KB holding one note or gate of each bad kind: the selector lists them
with their reasons, sweeps review everything else and exit 0 with one warning
each, a bad note named explicitly is an error, and nothing ever prints a
traceback or a raw control character from a file name."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from helpers.cli import DEMO_MODEL, EX_NOTE, assert_refused
from helpers.db import rows, store_of
from helpers.kb import commit_all

GATES = "kb/instructions/review-gates"
FINE = "---\ndescription: A note.\ntraits: []\n---\n# A note\n\nBody text.\n"
GOOD_GATE = "---\ndescription: A gate.\n---\nCheck the note.\n"
STAND_IN = ("--runner", "stand-in", "--model", DEMO_MODEL)

# note path -> reason, one note of each bad kind
BAD_NOTES = {
    "kb/notes/a :: b.md": "unreviewable-name",
    "kb/notes/new\nline.md": "unreviewable-name",
    "kb/notes/tab\there.md": "unreviewable-name",
    "kb/notes/esc\x1b[31mred.md": "unreviewable-name",
    "kb/notes/=== PAIR REVIEW START x ===.md": "unreviewable-name",
    "kb/notes/caf\udce9.md": "unreviewable-name",  # a name that is not UTF-8
    "kb/notes/latin1.md": "unreadable-note",
    "kb/notes/nul.md": "unreadable-note",
    "kb/notes/unclosed-quote.md": "unreadable-note",
    "kb/notes/tab-indented.md": "unreadable-note",
    "kb/notes/colons.md": "unreadable-note",
    "kb/notes/list.md": "unreadable-note",
    "kb/notes/scalar.md": "unreadable-note",
}
BAD_GATES = {
    "clarity/bad :: gate": "unreviewable-name",
    "clarity/esc\x1bgate": "unreviewable-name",
    "clarity/broken-yaml": "unusable-gate",
    "clarity/latin1": "unusable-gate",
}
CONTENT: dict[str, bytes] = {
    "kb/notes/latin1.md": b"---\ndescription: caf\xe9\n---\nBody.\n",
    "kb/notes/nul.md": b"---\ndescription: x\n---\nbo\x00dy\n",
    "kb/notes/unclosed-quote.md": b'---\ndescription: "oops\n---\nBody.\n',
    "kb/notes/tab-indented.md": b"---\nmeta:\n\tfoo: 1\n---\nBody.\n",
    "kb/notes/colons.md": b"---\n: :\n---\nBody.\n",
    "kb/notes/list.md": b"---\n- a\n- b\n---\nBody.\n",
    "kb/notes/scalar.md": b"---\njust words\n---\nBody.\n",
    f"{GATES}/clarity/broken-yaml.md": b'---\nwatches: "body\n---\nCheck.\n',
    f"{GATES}/clarity/latin1.md": b"---\ndescription: x\n---\nCh\xe9ck.\n",
}


def _write(kb: Path, key: str, data: bytes) -> None:
    path = os.path.join(os.fsencode(kb), key.encode("utf-8", "surrogateescape"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)


@pytest.fixture
def bad_kb(example_kb: Path) -> Path:
    for key in BAD_NOTES:
        _write(example_kb, key, CONTENT.get(key, FINE.encode()))
    for gate_id in BAD_GATES:
        key = f"{GATES}/{gate_id}.md"
        _write(example_kb, key, CONTENT.get(key, GOOD_GATE.encode()))
    # Not notes, so never reported: empty, no frontmatter, a dangling link.
    _write(example_kb, "kb/notes/empty.md", b"")
    _write(example_kb, "kb/notes/plain :: text.md", b"no frontmatter\n")
    os.symlink("nowhere.md", example_kb / "kb/notes/dangling.md")
    commit_all(example_kb, "bad files")
    return example_kb


def _clean(result: Any) -> None:
    """No traceback, no unexpected error, and no raw control character from a
    file name on either stream."""
    for stream in (result.out, result.err):
        assert "Traceback" not in stream and "unexpected error" not in stream, stream
        assert "\x1b" not in stream and "\t" not in stream, stream
        assert "new\nline" not in stream, stream


def _unreviewable(entries: list[dict[str, Any]]) -> dict[str, str]:
    return {
        e["note_path"] if e["gate_id"] is None else e["gate_id"]: e["reason"]
        for e in entries
        if e["reason"] in ("unreviewable-name", "unreadable-note", "unusable-gate")
    }


def test_the_selector_lists_each_bad_note_and_gate_with_its_reason(cli, bad_kb: Path) -> None:
    result = cli("review-target-selector", "--model", DEMO_MODEL, "--json", cwd=bad_kb)
    assert result.code == 0, result.err
    _clean(result)
    entries = result.json()
    assert _unreviewable(entries) == {**BAD_NOTES, **BAD_GATES}
    assert all(e["detail"] for e in entries if "detail" in e)
    stale = [e for e in entries if e["reason"] == "missing-review"]
    assert EX_NOTE in {e["note_path"] for e in stale}
    assert not {e["note_path"] for e in stale} & set(BAD_NOTES)
    assert not {e["gate_id"] for e in stale} & set(BAD_GATES)
    assert "clarity/undefined-abbreviation" in {e["gate_id"] for e in stale}

    text = cli("review-target-selector", "--model", DEMO_MODEL, cwd=bad_kb)
    assert text.code == 0, text.err
    _clean(text)
    assert "cannot be reviewed:" in text.out
    assert "  - note 'kb/notes/new\\nline.md': unreviewable-name" in text.out
    assert "  - gate 'clarity/esc\\x1bgate': unreviewable-name" in text.out
    assert "note 'kb/notes/caf\\udce9.md': unreviewable-name" in text.out
    assert "note 'kb/notes/list.md': unreadable-note (frontmatter is not a mapping)" in text.out
    assert text.out.rstrip().endswith(
        f"{len(BAD_NOTES) + len(BAD_GATES)} note(s) or gate(s) cannot be reviewed"
    )

    only = cli(
        "review-target-selector", "--model", DEMO_MODEL, "--json",
        "--reason", "unreadable-note", cwd=bad_kb,
    )  # fmt: skip
    assert only.code == 0, only.err
    assert {e["note_path"] for e in only.json()} == {
        k for k, r in BAD_NOTES.items() if r == "unreadable-note"
    }


def test_a_sweep_reviews_every_other_note_and_warns_once_per_bad_one(cli, bad_kb: Path) -> None:
    result = cli("review-sweep", *STAND_IN, cwd=bad_kb)
    assert result.code == 0, result.err
    _clean(result)
    warnings = [line for line in result.err.splitlines() if line.startswith("warning: skipped")]
    assert len(warnings) == len(BAD_NOTES) + len(BAD_GATES), result.err
    assert "warning: skipped note 'kb/notes/new\\nline.md': unreviewable-name" in result.err
    assert "warning: skipped gate 'clarity/broken-yaml': unusable-gate" in result.err
    assert "0 failed" in result.out

    # Every good pair is accepted now; the bad ones are still listed, not stale.
    after = cli("review-target-selector", "--model", DEMO_MODEL, "--json", cwd=bad_kb)
    assert after.code == 0, after.err
    assert _unreviewable(after.json()) == {**BAD_NOTES, **BAD_GATES}
    assert [e for e in after.json() if e["reason"] == "missing-review"] == []
    gate = cli("review-target-selector", "--model", DEMO_MODEL, "--fail-on-stale", cwd=bad_kb)
    assert gate.code == 0, gate.out + gate.err  # listed, but not stale

    reviewed = {r[0] for r in rows(store_of(bad_kb), "SELECT note_path FROM review_runs")}
    assert EX_NOTE in reviewed and not reviewed & set(BAD_NOTES)
    gates = {r[0] for r in rows(store_of(bad_kb), "SELECT gate_id FROM review_run_gates")}
    assert "clarity/undefined-abbreviation" in gates and not gates & set(BAD_GATES)
    check = cli("review-store", "check", cwd=bad_kb)
    assert check.code == 0, check.out + check.err


def test_a_sweep_json_lists_them_and_keeps_stdout_one_document(cli, bad_kb: Path) -> None:
    result = cli("review-sweep", *STAND_IN, "--dry-run", "--json", cwd=bad_kb)
    assert result.code == 0, result.err
    _clean(result)
    payload = json.loads(result.out)
    assert _unreviewable(payload["unreviewable"]) == {**BAD_NOTES, **BAD_GATES}
    planned = {n for b in payload["batches"] for n in b["notes"]}
    assert EX_NOTE in planned and not planned & set(BAD_NOTES)


def test_a_gate_sweep_skips_the_bad_notes(cli, bad_kb: Path) -> None:
    gate = "clarity/description-repeats-title"
    result = cli("run-gate-sweep", gate, *STAND_IN, "--json", cwd=bad_kb)
    assert result.code == 0, result.err
    _clean(result)
    payload = json.loads(result.out)
    assert payload["failed"] == 0 and payload["completed"] >= 4
    assert _unreviewable(payload["unreviewable"]) == BAD_NOTES
    assert result.err.count("warning: skipped note") == len(BAD_NOTES)


def test_a_gate_sweep_of_a_bad_gate_named_is_an_error(cli, bad_kb: Path) -> None:
    for gate in ("clarity/broken-yaml", "clarity/bad :: gate"):
        result = cli("run-gate-sweep", gate, *STAND_IN, "--dry-run", cwd=bad_kb)
        assert_refused(result, 1)
        _clean(result)


@pytest.mark.parametrize("note", list(BAD_NOTES))
def test_a_bad_note_named_is_an_error(cli, bad_kb: Path, note: str) -> None:
    result = cli("run-review-bundle", note, "claims", *STAND_IN, cwd=bad_kb)
    line = assert_refused(result, 1, mentions="is not a reviewable note")
    assert BAD_NOTES[note] in line
    _clean(result)
    assert not store_of(bad_kb).exists()


def test_a_bundle_leaves_out_the_bad_gates_of_a_lens(cli, bad_kb: Path) -> None:
    result = cli("run-review-bundle", EX_NOTE, "clarity", *STAND_IN, "--json", cwd=bad_kb)
    assert result.code == 0, result.err
    _clean(result)
    payload = json.loads(result.out)
    assert payload["completed"] == 1 and payload["failed"] == 0
    assert _unreviewable(payload["unreviewable"]) == BAD_GATES
    assert result.err.count("warning: skipped gate") == len(BAD_GATES)


def test_prepare_skips_the_pairs_it_cannot_review_and_keeps_the_rest(cli, bad_kb: Path) -> None:
    pairs = [
        f"{EX_NOTE}::clarity/undefined-abbreviation",
        f"{EX_NOTE}::clarity/broken-yaml",
        "kb/notes/a :: b.md::clarity/undefined-abbreviation",
        "kb/notes/nul.md::clarity/undefined-abbreviation",
        "kb/notes/esc\x1b[31mred.md::clarity/undefined-abbreviation",
    ]
    result = cli(
        "prepare-review-batch", *pairs, "--runner", "x", "--model", DEMO_MODEL, "--json",
        cwd=bad_kb,
    )  # fmt: skip
    assert result.code == 0, result.err
    payload = result.json()
    assert [(r["note_path"], r["gate_ids"]) for r in payload["runs"]] == [
        (EX_NOTE, ["clarity/undefined-abbreviation"])
    ]
    skipped = {(s["note_path"], s["gate_id"]): s["reason"] for s in payload["skipped"]}
    assert skipped[(EX_NOTE, "clarity/broken-yaml")].startswith("unusable-gate: ")
    assert skipped[("kb/notes/a :: b.md", "clarity/undefined-abbreviation")].startswith(
        "unreviewable-name: "
    )
    assert skipped[("kb/notes/nul.md", "clarity/undefined-abbreviation")].startswith(
        "unreadable-note: "
    )
    text = cli("prepare-review-batch", *pairs, "--runner", "x", "--model", DEMO_MODEL, cwd=bad_kb)
    assert text.code == 0, text.err
    _clean(text)
    assert "skipped 'kb/notes/esc\\x1b[31mred.md' :: clarity/undefined-abbreviation" in text.out

    nothing = cli(
        "prepare-review-batch", "kb/notes/nul.md::clarity", "--runner", "x",
        "--model", DEMO_MODEL, cwd=bad_kb,
    )  # fmt: skip
    assert_refused(nothing, 1, mentions="no pair named can be reviewed")


@pytest.mark.parametrize(
    "target",
    [
        "kb/notes/x :: y.md",
        "kb/notes/x\ny.md",
        "kb/notes/x\ty.md",
        "kb/notes/x\x1b[2Jy.md",
        "kb/notes/=== PAIR REVIEW END x ===.md",
    ],
)
def test_relocate_refuses_a_target_the_grammar_cannot_carry(cli, bad_kb: Path, target: str) -> None:
    result = cli("relocate-note", EX_NOTE, target, cwd=bad_kb)
    assert_refused(result, 1, mentions="unreviewable-name")
    _clean(result)
    assert (bad_kb / EX_NOTE).exists()
    assert not os.path.lexists(bad_kb / target)


def test_create_review_run_reports_a_lens_s_unusable_gates_as_skipped(cli, bad_kb: Path) -> None:
    result = cli(
        "create-review-run", EX_NOTE, "clarity", "--runner", "x", "--model", DEMO_MODEL,
        "--json", cwd=bad_kb,
    )  # fmt: skip
    assert result.code == 0, result.err
    payload = result.json()
    assert payload["gate_ids"] == [
        "clarity/description-repeats-title",
        "clarity/undefined-abbreviation",
    ]
    skipped = {s["gate_id"]: s["reason"] for s in payload["skipped"]}
    assert {g: r.split(":")[0] for g, r in skipped.items()} == BAD_GATES
    text = cli(
        "create-review-run", EX_NOTE, "clarity", "--runner", "x", "--model", DEMO_MODEL,
        cwd=bad_kb,
    )  # fmt: skip
    assert text.code == 0, text.err
    _clean(text)
    one = cli(
        "create-review-run", EX_NOTE, "clarity/broken-yaml", "--runner", "x",
        "--model", DEMO_MODEL, cwd=bad_kb,
    )  # fmt: skip
    assert_refused(one, 1, mentions="invalid YAML")
