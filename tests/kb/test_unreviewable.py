"""Names the pair grammar cannot carry and notes or gates that cannot be read:
decided once in the KB layer, reported by scans, refused when named."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers.kb import commit_all, git

from commonplace import frontmatter
from commonplace.config import Config, load_config
from commonplace.errors import UserError
from commonplace.git import read_state
from commonplace.kb.files import KbFile
from commonplace.kb.gates import load_found_gates, load_gate, load_gate_refs
from commonplace.kb.notes import (
    find_notes,
    load_note,
    resolve_named_note,
    resolve_note_refs,
    scan_notes,
    why_not_reviewable,
)
from commonplace.kb.paths import PAIR_SEPARATOR, SENTINEL_MARK, shown, why_unreviewable_name
from commonplace.kb.unreviewable import (
    UNREADABLE_NOTE,
    UNREVIEWABLE_NAME,
    UNUSABLE_GATE,
    Unreviewable,
)
from commonplace.protocol import grammar

NOTE = "---\ndescription: fine\ntraits: []\n---\n# Fine\n\nBody.\n"
GATE = "---\ndescription: a gate\n---\nCheck the note.\n"

# Names the grammar cannot carry, each with a word of the reason.
BAD_NAMES = {
    "kb/notes/a :: b.md": "reserved",
    "kb/notes/new\nline.md": "control character",
    "kb/notes/cr\rhere.md": "control character",
    "kb/notes/tab\there.md": "control character",
    "kb/notes/esc\x1b[31mred.md": "control character",
    "kb/notes/del\x7f.md": "control character",
    "kb/notes/nel\x85.md": "control character",
    "kb/notes/line\u2028sep.md": "control character",
    "kb/notes/caf\udce9.md": "not UTF-8",
    "kb/notes/=== PAIR REVIEW START x ===.md": "sentinel-like",
    "kb/notes/=== pair review end.md": "sentinel-like",
    "kb/notes/trailing.md ": "white space",
    "kb/notes/back\\slash.md": "plain relative path",
    "lens/gate :: id": "reserved",
}
GOOD_NAMES = [
    "kb/notes/a.md",
    "kb/notes/a::b.md",  # the separator is ` :: ` with its spaces
    "kb/notes/a b/c d.md",
    "kb/notes/é ü 漢字.md",
    "kb/notes/=== not a sentinel.md",
    "prose/source-residue",
]


@pytest.mark.parametrize(("name", "why"), BAD_NAMES.items())
def test_names_the_grammar_cannot_carry(name: str, why: str) -> None:
    problem = why_unreviewable_name(name)
    assert problem is not None and why in problem


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_names_the_grammar_carries(name: str) -> None:
    assert why_unreviewable_name(name) is None


def test_the_reserved_texts_are_the_grammars() -> None:
    assert PAIR_SEPARATOR == grammar.PAIR_SEPARATOR
    assert grammar.START.startswith(SENTINEL_MARK) and grammar.END.startswith(SENTINEL_MARK)


def test_shown_escapes_only_what_could_forge_output() -> None:
    assert shown("kb/notes/a b.md") == "kb/notes/a b.md"
    assert shown("kb/notes/a\nb.md") == "'kb/notes/a\\nb.md'"
    assert shown("x\x1b[2J") == "'x\\x1b[2J'"
    assert "\u202e" not in shown("a\u202eb")  # a right-to-left override
    assert shown(" lead") == "' lead'"


def test_describe_quotes_and_escapes_the_name() -> None:
    item = Unreviewable("note", "kb/notes/a\nb.md", UNREVIEWABLE_NAME, "why\nnot")
    line = item.describe()
    assert "\n" not in line
    assert line.startswith("note 'kb/notes/a\\nb.md': unreviewable-name")
    assert item.as_json() == {
        "note_path": "kb/notes/a\nb.md",
        "gate_id": None,
        "reason": "unreviewable-name",
        "detail": "why\nnot",
    }


# -- frontmatter the fast reader must not wave through ----------------------------------


@pytest.mark.parametrize(
    "block",
    [
        'description: "unclosed\n',
        "meta:\n\tfoo: 1\n",  # a tab-indented mapping
        ": :\n",
        "meta:\n  : :\n",
        'meta:\n  x: "unclosed\n',
        "title: a: b\n",
        "title: ends with a colon:\n",
        "- a\n- b\n",  # a list, not a mapping
        "just words\n",  # a scalar
        "42\n",
    ],
)
def test_invalid_or_non_mapping_frontmatter_is_an_error(block: str) -> None:
    keys = frozenset({"type", "traits", "status"})
    with pytest.raises(frontmatter.FrontmatterError):
        frontmatter.parse(block)
    with pytest.raises(frontmatter.FrontmatterError):
        frontmatter.read_fields(block, keys)


def test_a_comment_with_a_colon_is_still_valid() -> None:
    block = 'title: fine # note: this\nmeta:\n  quote: "a \\" b"\n'
    assert frontmatter.read_fields(block, frozenset({"title"})) == {"title": "fine"}


# -- notes ---------------------------------------------------------------------------


def _write(root: Path, key: str | bytes, data: str | bytes) -> None:
    raw = key if isinstance(key, bytes) else key.encode("utf-8", "surrogateescape")
    path = os.path.join(os.fsencode(root), raw)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data if isinstance(data, bytes) else data.encode("utf-8"))


# Bad notes by content: key -> (reason, a word of the detail).
BAD_CONTENT = {
    "kb/notes/latin1.md": (b"---\ndescription: caf\xe9\n---\nBody.\n", "UTF-8"),
    "kb/notes/nul.md": (b"---\ndescription: x\n---\nbo\x00dy\n", "NUL"),
    "kb/notes/unclosed-quote.md": ('---\ndescription: "oops\n---\nBody.\n', "invalid YAML"),
    "kb/notes/tab-indent.md": ("---\nmeta:\n\tfoo: 1\n---\nBody.\n", "invalid YAML"),
    "kb/notes/colons.md": ("---\n: :\n---\nBody.\n", "invalid YAML"),
    "kb/notes/list.md": ("---\n- a\n- b\n---\nBody.\n", "not a mapping"),
    "kb/notes/scalar.md": ("---\njust words\n---\nBody.\n", "not a mapping"),
}
# Bad notes by name (content fine).
BAD_NAMED = [
    "kb/notes/a :: b.md",
    "kb/notes/new\nline.md",
    "kb/notes/tab\there.md",
    "kb/notes/esc\x1b[31mred.md",
    "kb/notes/=== PAIR REVIEW START x.md",
    "kb/notes/caf\udce9.md",
]
GOOD = ["kb/notes/good-a.md", "kb/notes/sub/good-b.md", "kb/reference/good-c.md"]


@pytest.fixture
def kb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    root = tmp_path / "kb-root"
    for key in GOOD:
        _write(root, key, NOTE)
    for key, (data, _) in BAD_CONTENT.items():
        _write(root, key, data)
    for key in BAD_NAMED:
        _write(root, key, NOTE)
    # Not notes at all, so not reported: no frontmatter, a link, a folder.
    _write(root, "kb/notes/empty.md", b"")
    _write(root, "kb/notes/bad :: name-but-no-frontmatter.md", "plain text\n")
    os.symlink("nowhere.md", root / "kb/notes/dangling.md")
    _write(root, "kb/notes/folder.md/inside.md", NOTE)
    _write(root, "kb/instructions/review-gates/lens/fine.md", GATE)
    _write(root, "kb/instructions/review-gates/lens/bad :: gate.md", GATE)
    _write(root, "kb/instructions/review-gates/lens/esc\x1bgate.md", GATE)
    _write(root, "kb/instructions/review-gates/lens/broken.md", '---\nwatches: "x\n---\nX\n')
    _write(root, "kb/instructions/review-gates/lens/latin1.md", b"---\n---\ncaf\xe9\n")
    _write(root, "kb/instructions/review-gates/lens/nul.md", b"---\n---\nx\x00y\n")
    git(root, "init", "-q")
    commit_all(root, "initial")
    return root


def test_find_notes_reports_each_bad_note_and_keeps_every_good_one(kb: Path) -> None:
    config = load_config(kb)
    scan = find_notes(config, read_state(kb, list(config.scan_roots)))
    assert [n.key for n in scan.notes] == sorted([*GOOD, "kb/notes/folder.md/inside.md"])
    found = {u.key: u for u in scan.unreviewable}
    assert set(found) == {*BAD_CONTENT, *BAD_NAMED}
    assert [u.key for u in scan.unreviewable] == sorted(found)
    for key, (_, word) in BAD_CONTENT.items():
        assert found[key].reason == UNREADABLE_NOTE and word in found[key].detail, found[key]
    for key in BAD_NAMED:
        assert found[key].reason == UNREVIEWABLE_NAME, found[key]
    assert all(u.kind == "note" and key not in u.detail for key, u in found.items())
    # The list-only form drops them silently, for callers that only read notes.
    assert [n.key for n in scan_notes(config, read_state(kb, []))] == [n.key for n in scan.notes]


def test_a_fifo_named_like_a_note_never_blocks_a_scan(kb: Path) -> None:
    os.mkfifo(kb / "kb/notes/fifo.md")  # opening it for reading would wait forever
    config = load_config(kb)
    scan = find_notes(config, read_state(kb, []))
    assert "kb/notes/fifo.md" not in {n.key for n in scan.notes} | {
        u.key for u in scan.unreviewable
    }


def test_load_note_of_a_file_gone_since_the_scan(kb: Path) -> None:
    found = load_note(kb, "kb/notes/vanished.md")
    assert isinstance(found, Unreviewable)
    assert found.reason == UNREADABLE_NOTE and "cannot read" in found.detail


def test_load_note_of_a_file_without_frontmatter_is_none(kb: Path) -> None:
    assert load_note(kb, "kb/notes/empty.md") is None
    assert isinstance(load_note(kb, GOOD[0]), KbFile)


def test_a_bad_note_named_is_an_error_with_its_name_escaped(kb: Path) -> None:
    config = load_config(kb)
    state = read_state(kb, [])
    for key in [*BAD_CONTENT, "kb/notes/new\nline.md", "kb/notes/esc\x1b[31mred.md"]:
        with pytest.raises(UserError) as info:
            resolve_note_refs(config, state, [key], cwd=kb)
        message = info.value.message
        assert "is not a reviewable note" in message
        assert "\n" not in message and "\x1b" not in message, message
        found = resolve_named_note(config, state, key, cwd=kb, purpose="one note")
        assert isinstance(found, Unreviewable) and found.key == key


def test_a_folder_named_reports_its_bad_notes(kb: Path) -> None:
    config = load_config(kb)
    scan = resolve_note_refs(config, read_state(kb, []), ["kb/notes"], cwd=kb)
    assert "kb/notes/good-a.md" in [n.key for n in scan.notes]
    assert {u.key for u in scan.unreviewable} == {*BAD_CONTENT, *BAD_NAMED}


@pytest.mark.parametrize("target", ["kb/notes/x :: y.md", "kb/notes/x\ny.md", "kb/notes/\x1b.md"])
def test_a_name_the_grammar_cannot_carry_is_no_place_for_a_note(kb: Path, target: str) -> None:
    config = load_config(kb)
    problem = why_not_reviewable(config, read_state(kb, []), target)
    assert problem is not None and problem.startswith(UNREVIEWABLE_NAME)


# -- gates ---------------------------------------------------------------------------


def _config(kb: Path) -> Config:
    return load_config(kb)


def test_gates_found_in_a_lens_are_reported_not_raised(kb: Path) -> None:
    config = _config(kb)
    scan = load_gate_refs(config, ["lens"], cwd=kb)
    assert [g.id for g in scan.gates] == ["lens/fine"]
    found = {u.key: u for u in scan.unusable}
    assert found["lens/bad :: gate"].reason == UNREVIEWABLE_NAME
    assert found["lens/esc\x1bgate"].reason == UNREVIEWABLE_NAME
    assert found["lens/broken"].reason == UNUSABLE_GATE
    assert "invalid YAML" in found["lens/broken"].detail
    assert "UTF-8" in found["lens/latin1"].detail
    assert "NUL" in found["lens/nul"].detail
    assert all(u.kind == "gate" for u in scan.unusable)


def test_a_bad_gate_named_by_itself_is_an_error(kb: Path) -> None:
    config = _config(kb)
    for gate_id in ["lens/bad :: gate", "lens/broken", "lens/latin1"]:
        with pytest.raises(UserError):
            load_gate_refs(config, ["lens/fine", gate_id], cwd=kb)
    with pytest.raises(UserError) as info:
        load_gate(config, "lens/esc\x1bgate")
    assert "\x1b" not in info.value.message and "cannot be named" in info.value.message


def test_load_found_gates_keeps_the_order_of_the_usable(kb: Path) -> None:
    scan = load_found_gates(_config(kb), ["lens/broken", "lens/fine"])
    assert [g.id for g in scan.gates] == ["lens/fine"]
    assert [u.key for u in scan.unusable] == ["lens/broken"]
