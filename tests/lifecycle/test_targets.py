"""plan_runs: applicable gates, skipped pairs, dirty gates (SPEC 3, 6.1)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from helpers.kb import commit_all, git, head
from helpers.store import make_plan

from commonplace.errors import UserError
from commonplace.kb.files import KbFile, read_file

ALPHA = "kb/notes/alpha.md"
BETA = "kb/notes/beta.md"
GAMMA = "kb/notes/sub/gamma.md"
CLARITY = "prose/clarity"
TERMS = "prose/terms"
TITLE = "claims/title"
TYPED = "claims/typed"

FILES = {
    "commonplace.toml": '[models]\nopus = "claude-opus-4-6"\n',
    ALPHA: "---\ndescription: Alpha\ntype: kb/types/claim.md\ntraits: [title-as-claim]\n---\n\n"
    "# Alpha is first\n\nBody.\n",
    BETA: "---\ndescription: Beta\ntype: kb/types/note.md\ntraits: []\n---\n\n# Beta\n\nBody.\n",
    GAMMA: "---\ndescription: Gamma\ntype: kb/types/claim.md\ntraits: [title-as-claim]\n---\n\n"
    "# Gamma is third\n\nBody.\n",
    "kb/instructions/review-gates/prose/clarity.md": "---\ndescription: Clear prose\n"
    "watches: [body]\n---\n\nIs the body clear?\n",
    "kb/instructions/review-gates/prose/terms.md": "---\ndescription: Terms\n"
    "watches: [body]\n---\n\nAre terms defined?\n",
    "kb/instructions/review-gates/claims/title.md": "---\ndescription: Title claim\n"
    "watches: [title]\nrequires_trait: title-as-claim\n---\n\nDoes the title claim?\n",
    "kb/instructions/review-gates/claims/typed.md": "---\ndescription: Typed\n"
    "watches: [description]\nrequires-type: kb/types/claim.md\n---\n\nClaim notes only.\n",
}


def write_kb(root: Path, files: dict[str, str] = FILES) -> Path:
    for key, text in files.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def kb(tmp_path: Path) -> Path:
    root = write_kb(tmp_path / "kb-root")
    git(root, "init", "-q")
    commit_all(root, "initial")
    return root


def test_targets_in_requested_order_with_applicable_gates(kb: Path) -> None:
    result = make_plan(kb, [(GAMMA, [TYPED, CLARITY, TITLE]), (ALPHA, [CLARITY, CLARITY, TERMS])])
    assert [(t.note.key, [g.id for g in t.gates]) for t in result.targets] == [
        (GAMMA, [TYPED, CLARITY, TITLE]),
        (ALPHA, [CLARITY, TERMS]),
    ]
    assert result.skipped == ()
    assert {t.note_commit for t in result.targets} == {head(kb)}
    gate = result.targets[0].gates[1]
    assert gate.sha == read_file(kb, "kb/instructions/review-gates/prose/clarity.md").sha


def test_inapplicable_gates_are_skipped_with_reasons(kb: Path) -> None:
    result = make_plan(kb, [(BETA, [TITLE, CLARITY, TYPED])])
    assert [(t.note.key, [g.id for g in t.gates]) for t in result.targets] == [(BETA, [CLARITY])]
    assert [(s.note_path, s.gate_id, s.reason) for s in result.skipped] == [
        (BETA, TITLE, "requires trait title-as-claim"),
        (BETA, TYPED, "requires type kb/types/claim.md"),
    ]


def test_a_note_without_applicable_gates_is_skipped_whole(kb: Path) -> None:
    result = make_plan(kb, [(BETA, [TITLE, TYPED]), (ALPHA, [TITLE])])
    assert [t.note.key for t in result.targets] == [ALPHA]
    assert [(s.note_path, s.gate_id) for s in result.skipped] == [(BETA, TITLE), (BETA, TYPED)]


def test_nothing_applicable_is_an_error_naming_the_pairs(kb: Path) -> None:
    with pytest.raises(UserError, match="no applicable gates") as info:
        make_plan(kb, [(BETA, [TITLE, TYPED])])
    assert f"{BETA} :: {TITLE}: requires trait title-as-claim" in info.value.message
    assert f"{BETA} :: {TYPED}: requires type kb/types/claim.md" in info.value.message


def test_dirty_gates_are_fatal_and_named(kb: Path) -> None:
    for name in ("clarity", "terms"):
        path = kb / "kb/instructions/review-gates/prose" / f"{name}.md"
        path.write_text(path.read_text() + "\nEdited.\n")
    with pytest.raises(UserError, match="dirty gates are fatal") as info:
        make_plan(kb, [(ALPHA, [CLARITY, TERMS, TITLE])])
    assert f"{CLARITY}, {TERMS} have uncommitted changes" in info.value.message
    assert TITLE not in info.value.message


def test_a_single_dirty_gate(kb: Path) -> None:
    path = kb / "kb/instructions/review-gates/prose/clarity.md"
    path.write_text(path.read_text() + "\nEdited.\n")
    with pytest.raises(UserError, match=f"{CLARITY} has uncommitted changes"):
        make_plan(kb, [(ALPHA, [CLARITY])])


def test_a_staged_gate_edit_is_dirty_too(kb: Path) -> None:
    path = kb / "kb/instructions/review-gates/prose/clarity.md"
    path.write_text(path.read_text() + "\nStaged.\n")
    git(kb, "add", "-A")
    with pytest.raises(UserError, match="dirty gates are fatal"):
        make_plan(kb, [(ALPHA, [CLARITY])])


def test_an_uncommitted_new_gate_is_dirty(kb: Path) -> None:
    (kb / "kb/instructions/review-gates/prose/new.md").write_text(
        "---\ndescription: New\n---\n\nNew gate.\n"
    )
    with pytest.raises(UserError, match="prose/new has uncommitted"):
        make_plan(kb, [(ALPHA, ["prose/new"])])


def test_a_dirty_gate_that_does_not_apply_is_not_fatal(kb: Path) -> None:
    path = kb / "kb/instructions/review-gates/claims/title.md"
    path.write_text(path.read_text() + "\nEdited.\n")
    result = make_plan(kb, [(BETA, [TITLE, CLARITY])])
    assert [g.id for g in result.targets[0].gates] == [CLARITY]
    assert [s.gate_id for s in result.skipped] == [TITLE]


def test_a_dirty_note_has_no_commit(kb: Path) -> None:
    (kb / ALPHA).write_text((kb / ALPHA).read_text() + "\nMore.\n")
    result = make_plan(kb, [(ALPHA, [CLARITY]), (GAMMA, [CLARITY])])
    assert [t.note_commit for t in result.targets] == [None, head(kb)]
    assert result.targets[0].note.sha == read_file(kb, ALPHA).sha


def test_a_missing_gate_is_refused(kb: Path) -> None:
    with pytest.raises(UserError, match="gate not found: prose/nope"):
        make_plan(kb, [(ALPHA, [CLARITY, "prose/nope"])])


def test_the_pair_separator_is_reserved_in_note_keys(kb: Path) -> None:
    note = KbFile("kb/notes/a :: b.md", (kb / ALPHA).read_bytes())
    with pytest.raises(UserError, match="reserved"):
        make_plan(kb, [(note, [CLARITY])])


def test_outside_git_nothing_is_dirty_and_there_is_no_commit(tmp_path: Path) -> None:
    root = write_kb(tmp_path / "plain")
    probe = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"], cwd=root, capture_output=True, check=False
    )
    if probe.returncode == 0:
        pytest.skip("the temporary directory is inside a git repository")
    result = make_plan(root, [(ALPHA, [CLARITY, TITLE])])
    assert [g.id for g in result.targets[0].gates] == [CLARITY, TITLE]
    assert result.targets[0].note_commit is None
