"""A KB of our own making, through the commands: gate applicability keys in
both spellings, a misspelled one as a clear error, `--user-verified` on the
selector and the sweeps, and `recursive = false` discovery."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers.cli import DEMO_MODEL, assert_refused, stale_pairs
from helpers.commands import run_script
from helpers.kb import EXAMPLE_KB, commit_all, git

GATES = "kb/instructions/review-gates"
STAND_IN = ("--runner", "stand-in", "--model", DEMO_MODEL)
MODEL = ("--model", DEMO_MODEL)

NOTE_TYPE = "kb/types/note.md"
DEFINITION = "kb/types/definition.md"


def _note(type_: str, *extra: str) -> str:
    lines = "".join(f"{line}\n" for line in extra)
    return f"---\ndescription: A note.\ntype: {type_}\n{lines}---\n# Title\n\nBody.\n"


NOTES = {
    "kb/notes/plain.md": _note(NOTE_TYPE, "user-verified: true"),
    "kb/notes/term.md": _note(DEFINITION),
    "kb/notes/quoted.md": _note(NOTE_TYPE, 'user-verified: "true"'),
    "kb/notes/claim.md": _note(NOTE_TYPE, "traits: [title-as-claim]", "user-verified: false"),
    "kb/notes/sub/deep-term.md": _note(DEFINITION, "user-verified: true"),
    "kb/reference/ref.md": _note(NOTE_TYPE, "user-verified: yes"),
}
GATE_FILES = {
    "semantic/defs-underscore": f"---\nrequires_type: {DEFINITION}\n---\nDefinitions only.\n",
    "semantic/defs-dash": f"---\nrequires-type: [{DEFINITION}]\n---\nDefinitions only.\n",
    "traits/claim-underscore": "---\nrequires_trait: title-as-claim\n---\nClaims.\n",
    "traits/claim-dash": "---\nrequires-trait: [title-as-claim]\n---\nClaims.\n",
    "prose/everywhere": "---\ndescription: Every note.\n---\nAll notes.\n",
}
EVERY_NOTE = sorted(NOTES)
TOP_LEVEL = [n for n in EVERY_NOTE if n != "kb/notes/sub/deep-term.md"]
VERIFIED = ["kb/notes/plain.md", "kb/notes/sub/deep-term.md", "kb/reference/ref.md"]


def _write(kb: Path, key: str, text: str) -> None:
    path = kb / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def kb(tmp_path: Path) -> Path:
    root = tmp_path / "own-kb"
    root.mkdir()
    shutil.copytree(EXAMPLE_KB / "tools", root / "tools")
    _write(
        root,
        "commonplace.toml",
        '[runners.stand-in]\ncommand = ["python3", "tools/stand-in-reviewer.py"]\ntimeout = 60\n',
    )
    for key in (NOTE_TYPE, DEFINITION):
        _write(root, key, "---\ndescription: A type.\n---\n# A type\n")
    for key, text in NOTES.items():
        _write(root, key, text)
    for gate_id, text in GATE_FILES.items():
        _write(root, f"{GATES}/{gate_id}.md", text)
    git(root, "init", "-q")
    commit_all(root, "initial")
    return root


def _expected(notes: list[str]) -> set[tuple[str, str]]:
    """Every gate's pairs: the catalog's, and each note's type conformance pair
    (every note has a `type:` naming a spec; no folder has a COLLECTION.md)."""
    pairs = {(n, "prose/everywhere") for n in notes}
    for note in notes:
        pairs.add((note, "type/definition" if "term" in note else "type/note"))
        if "term" in note:
            pairs |= {(note, "semantic/defs-underscore"), (note, "semantic/defs-dash")}
        if note == "kb/notes/claim.md":
            pairs |= {(note, "traits/claim-underscore"), (note, "traits/claim-dash")}
    return pairs


def _pairs(cli, kb: Path, *args: str) -> set[tuple[str, str]]:
    return {(n, g) for n, g, _ in stale_pairs(cli, kb, *args, *MODEL)}


def test_both_spellings_route_exactly_the_expected_pairs(cli, kb: Path) -> None:
    assert _pairs(cli, kb, "--all-gates") == _expected(EVERY_NOTE)


def test_a_misspelled_applicability_key_in_a_lens_is_reported_and_skipped(cli, kb: Path) -> None:
    _write(kb, f"{GATES}/semantic/typo.md", f"---\nrequires_types: {DEFINITION}\n---\nX.\n")
    commit_all(kb, "typo")
    result = cli("review-target-selector", "semantic", *MODEL, "--json", cwd=kb)
    assert result.code == 0, result.err
    entries = result.json()
    bad = [e for e in entries if e["reason"] == "unusable-gate"]
    assert [(e["gate_id"], e["note_path"]) for e in bad] == [("semantic/typo", None)]
    assert "unknown applicability key 'requires_types'" in bad[0]["detail"]
    # No pair of the misspelled gate: it does not silently apply to every note.
    assert {e["gate_id"] for e in entries if e["reason"] == "missing-review"} == {
        "semantic/defs-underscore",
        "semantic/defs-dash",
    }
    text = cli("review-target-selector", "semantic", *MODEL, cwd=kb)
    assert text.code == 0 and "semantic/typo" in text.out and "unusable-gate" in text.out


def test_a_misspelled_applicability_key_named_alone_is_an_error(cli, kb: Path) -> None:
    _write(kb, f"{GATES}/semantic/typo.md", "---\napplies-to: kb/types/definition.md\n---\nX.\n")
    commit_all(kb, "typo")
    expected = "error: gate semantic/typo: unknown applicability key 'applies-to'"
    for command, extra in (
        ("review-target-selector", MODEL),
        ("run-gate-sweep", (*STAND_IN, "--dry-run")),
        ("review-sweep", (*STAND_IN, "--dry-run")),
    ):
        result = cli(command, "semantic/typo", *extra, cwd=kb)
        line = assert_refused(result, 1)
        assert line.startswith(expected), line


def test_differing_spellings_of_one_key_are_an_error(cli, kb: Path) -> None:
    _write(
        kb,
        f"{GATES}/semantic/both.md",
        f"---\nrequires_type: {DEFINITION}\nrequires-type: {NOTE_TYPE}\n---\nX.\n",
    )
    commit_all(kb, "both")
    result = cli("review-target-selector", "semantic/both", *MODEL, cwd=kb)
    assert assert_refused(result, 1) == (
        "error: gate semantic/both: requires_type and requires-type are both given"
        " and differ; keep one"
    )


def test_the_selector_scopes_to_user_verified_notes(cli, kb: Path) -> None:
    assert _pairs(cli, kb, "--all-gates", "--user-verified") == _expected(VERIFIED)
    # A filter on top of --note: the folder's verified notes only.
    assert _pairs(cli, kb, "--user-verified", "--note", "kb/notes") == _expected(
        ["kb/notes/plain.md", "kb/notes/sub/deep-term.md"]
    )
    # Nothing verified in scope is an empty selection, not an error.
    result = cli(
        "review-target-selector", "--user-verified", "--note", "kb/notes/term.md", *MODEL, cwd=kb
    )
    assert result.code == 0, result.err


def test_sweeps_review_only_user_verified_notes(cli, kb: Path) -> None:
    swept = cli(
        "run-gate-sweep", "prose/everywhere", *STAND_IN, "--user-verified", "--json", cwd=kb
    )
    assert swept.code == 0, swept.err
    assert json.loads(swept.out)["completed"] == len(VERIFIED)  # one run per note
    left = _pairs(cli, kb, "prose/everywhere")
    assert left == {(n, "prose/everywhere") for n in EVERY_NOTE if n not in VERIFIED}

    swept = cli("review-sweep", *STAND_IN, "--user-verified", "--json", cwd=kb)
    assert swept.code == 0, swept.err
    assert _pairs(cli, kb, "--user-verified") == set()
    assert _pairs(cli, kb) == _expected([n for n in EVERY_NOTE if n not in VERIFIED])


def _setting(kb: Path, line: str) -> None:
    """A top-level setting: before the first table of commonplace.toml."""
    path = kb / "commonplace.toml"
    path.write_text(f"{line}\n{path.read_text(encoding='utf-8')}", encoding="utf-8")


def test_recursive_false_gives_top_level_notes_only(cli, kb: Path) -> None:
    _setting(kb, "recursive = false")
    commit_all(kb, "top level only")
    assert _pairs(cli, kb) == _expected(TOP_LEVEL)
    assert _pairs(cli, kb, "--note", "kb/notes/sub") == _expected(["kb/notes/sub/deep-term.md"])
    assert _pairs(cli, kb, "--note", "kb/notes", "--user-verified") == _expected(
        ["kb/notes/plain.md"]
    )


def test_a_recursive_setting_that_is_not_a_boolean_is_an_error(cli, kb: Path) -> None:
    _setting(kb, 'recursive = "no"')
    result = cli("review-target-selector", *MODEL, cwd=kb)
    assert assert_refused(result, 1) == "error: commonplace.toml: recursive must be true or false"


def test_the_console_script_takes_user_verified(kb: Path) -> None:
    done = run_script(
        "commonplace-review-target-selector",
        ["--user-verified", "--json", *MODEL],
        cwd=kb,
    )
    assert done.returncode == 0, done.stderr
    assert {(p["note_path"], p["gate_id"]) for p in json.loads(done.stdout)} == _expected(VERIFIED)
