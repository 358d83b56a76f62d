"""Notes: which files are reviewable, and the facts routing needs."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.kb import commit_all, git

from commonplace.config import Config, load_config
from commonplace.errors import UserError
from commonplace.git import GitState, read_state
from commonplace.kb.files import KbFile, read_file
from commonplace.kb.notes import (
    NoteFacts,
    is_index,
    normalize_type,
    note_facts,
    resolve_notes,
    scan_notes,
)

FM = "---\ntype: kb/types/note.md\n---\n# Title\n"

REVIEWABLE = [
    "kb/notes/a.md",
    "kb/notes/bom.md",
    "kb/notes/reindex.md",
    "kb/notes/sub/deep/c.md",
    "kb/notes/sub/index-of-things.md",
    "kb/reference/adr/001-x.md",
    "kb/reference/r.md",
]


def write(root: Path, key: str, text: str = FM) -> Path:
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def kb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    root = tmp_path / "kb-root"
    for key in REVIEWABLE:
        write(root, key)
    (root / "kb/notes/bom.md").write_bytes(b"\xef\xbb\xbf" + FM.encode())
    # Not reviewable when scanning:
    write(root, "kb/notes/types/t.md")
    write(root, "kb/notes/sub/types/t2.md")
    write(root, "kb/notes/index.md")
    write(root, "kb/notes/topic-index.md")
    write(root, "kb/notes/.hidden.md")
    write(root, "kb/notes/.hiddendir/h.md")
    write(root, "kb/notes/plain.md", "# No frontmatter\n")
    write(root, "kb/notes/unclosed.md", "---\ntype: x\nno closer\n")
    write(root, "kb/notes/late.md", "\n---\ntype: x\n---\n")
    write(root, "kb/notes/readme.txt")
    write(root, "kb/notes/ignored.md")
    write(root, "kb/notes/build/out.md")
    write(root, "kb/other/o.md")
    write(root, "kb/types/note.md")
    write(root, ".gitignore", "kb/notes/ignored.md\nbuild/\n")
    git(root, "init", "-q")
    commit_all(root, "initial")
    return root


def state(config: Config) -> GitState:
    return read_state(config.kb_root, list(config.scan_roots))


def keys(files: list[KbFile]) -> list[str]:
    return [f.key for f in files]


def refused(config: Config, ref: str, *, cwd: Path | None = None) -> str:
    with pytest.raises(UserError) as info:
        resolve_notes(config, state(config), [ref], cwd=cwd or config.kb_root)
    return info.value.message


# -- scan_notes ------------------------------------------------------------------------


def test_scan_notes(kb: Path) -> None:
    config = load_config(kb)
    files = scan_notes(config, state(config))
    assert keys(files) == REVIEWABLE
    for file in files:
        assert file.data == (kb / file.key).read_bytes()


def test_scan_notes_outside_git_still_works(kb: Path) -> None:
    config = load_config(kb)
    found = keys(scan_notes(config, GitState(is_repo=False)))
    # Without git nothing is ignored.
    assert found == sorted([*REVIEWABLE, "kb/notes/build/out.md", "kb/notes/ignored.md"])


def test_scan_notes_custom_and_overlapping_roots(kb: Path) -> None:
    config = load_config(kb)._replace(
        scan_roots=("kb/notes/sub", "kb/notes", "kb/missing", "kb/notes/a.md")
    )
    found = keys(scan_notes(config, state(config)))
    assert found == [k for k in REVIEWABLE if k.startswith("kb/notes/")]


def test_scan_notes_whole_kb_as_scan_root(kb: Path) -> None:
    config = load_config(kb)._replace(scan_roots=(".",))
    found = keys(scan_notes(config, read_state(kb, [])))
    # kb/types is a types/ folder too.
    assert found == sorted([*REVIEWABLE, "kb/other/o.md"])


def test_scan_notes_survives_a_symlink_loop(kb: Path) -> None:
    (kb / "kb/notes/loop").symlink_to("..")
    config = load_config(kb)
    found = keys(scan_notes(config, state(config)))
    assert "kb/notes/a.md" in found


def test_is_index() -> None:
    assert is_index("index.md")
    assert is_index("topic-index.md")
    assert not is_index("reindex.md")
    assert not is_index("index-of-things.md")
    assert not is_index("Index.md.bak")


# -- resolve_notes ---------------------------------------------------------------------


def test_resolve_files_and_directories(kb: Path) -> None:
    config = load_config(kb)
    files = resolve_notes(
        config, state(config), ["kb/reference/r.md", "sub", "./a.md"], cwd=kb / "kb/notes"
    )
    assert keys(files) == [
        "kb/reference/r.md",
        "kb/notes/sub/deep/c.md",
        "kb/notes/sub/index-of-things.md",
        "kb/notes/a.md",
    ]
    assert files[0].data == (kb / "kb/reference/r.md").read_bytes()


def test_resolve_removes_duplicates_first_mention_first(kb: Path) -> None:
    config = load_config(kb)
    refs = [
        "kb/notes/sub/deep/c.md",
        "kb/notes",
        str(kb / "kb/notes/a.md"),
        "kb/notes/../notes/a.md",
    ]
    found = keys(resolve_notes(config, state(config), refs, cwd=kb))
    assert found[0] == "kb/notes/sub/deep/c.md"
    assert len(found) == len(set(found))
    assert sorted(found) == [k for k in REVIEWABLE if k.startswith("kb/notes/")]


def test_resolve_directory_skips_what_scanning_skips(kb: Path) -> None:
    config = load_config(kb)
    found = keys(resolve_notes(config, state(config), ["kb"], cwd=kb))
    assert found == REVIEWABLE


def test_resolve_kb_root_directory(kb: Path) -> None:
    config = load_config(kb)
    found = keys(resolve_notes(config, state(config), ["."], cwd=kb))
    assert found == REVIEWABLE


@pytest.mark.parametrize(
    ("ref", "reason"),
    [
        ("kb/other/o.md", "it is not under a scan root (kb/notes, kb/reference)"),
        ("kb/types/note.md", "it is not under a scan root (kb/notes, kb/reference)"),
        ("kb/notes/index.md", "index files are not reviewed"),
        ("kb/notes/topic-index.md", "index files are not reviewed"),
        ("kb/notes/plain.md", "it has no YAML frontmatter"),
        ("kb/notes/unclosed.md", "it has no YAML frontmatter"),
        ("kb/notes/late.md", "it has no YAML frontmatter"),
        ("kb/notes/ignored.md", "it is ignored by git"),
        ("kb/notes/build/out.md", "it is ignored by git"),
        ("kb/notes/types/t.md", "files under types/ folders are not reviewed"),
        ("kb/notes/sub/types/t2.md", "files under types/ folders are not reviewed"),
        ("kb/notes/.hidden.md", "hidden files are not reviewed"),
        ("kb/notes/.hiddendir/h.md", "hidden files are not reviewed"),
        ("kb/notes/readme.txt", "notes are Markdown files ending in .md"),
    ],
)
def test_resolve_refuses_unreviewable_files(kb: Path, ref: str, reason: str) -> None:
    assert refused(load_config(kb), ref) == f"{ref} is not a reviewable note: {reason}"


def test_resolve_missing_note(kb: Path) -> None:
    assert refused(load_config(kb), "kb/notes/missing.md") == "note not found: kb/notes/missing.md"


def test_a_mistyped_note_names_the_closest(kb: Path) -> None:
    config = load_config(kb)
    assert refused(config, "kb/notes/plian.md") == (
        "note not found: kb/notes/plian.md (did you mean 'kb/notes/plain.md'?)"
    )
    # From a folder of the KB, the suggestion is written from there too.
    message = refused(config, "plian.md", cwd=kb / "kb/notes")
    assert message == "note not found: plian.md (did you mean 'plain.md'?)"


def test_resolve_outside_kb(kb: Path, tmp_path: Path) -> None:
    config = load_config(kb)
    message = refused(config, "../../../x.md", cwd=kb / "kb/notes")
    assert message == f"../../../x.md is outside the knowledge base ({kb.resolve()})"
    outside = write(tmp_path, "stray/note.md")
    assert "outside the knowledge base" in refused(config, str(outside))


def test_resolve_symlink_escaping_kb(kb: Path, tmp_path: Path) -> None:
    target = write(tmp_path, "stray/note.md")
    (kb / "kb/notes/link.md").symlink_to(target)
    assert "kb/notes/link.md is outside the knowledge base" in refused(
        load_config(kb), "kb/notes/link.md"
    )


def test_resolve_directory_without_notes(kb: Path) -> None:
    config = load_config(kb)
    assert refused(config, "kb/other") == "no reviewable notes in kb/other"
    assert refused(config, "kb/notes/build") == "no reviewable notes in kb/notes/build"


def test_resolve_nothing_named(kb: Path) -> None:
    config = load_config(kb)
    assert resolve_notes(config, state(config), [], cwd=kb) == []


@pytest.mark.parametrize("directory", ["kb/notes/types", "kb/notes/.hiddendir"])
def test_directory_refs_apply_the_same_checks_as_file_refs(kb: Path, directory: str) -> None:
    """SPEC 2: explicit --note arguments, files or directories, go through the same
    checks; a directory must not yield notes that naming the file would refuse."""
    config = load_config(kb)
    git_state = state(config)
    try:
        found = resolve_notes(config, git_state, [directory], cwd=kb)
    except UserError as exc:
        assert exc.message == f"no reviewable notes in {directory}"
        return
    rejected = []
    for file in found:
        try:
            resolve_notes(config, git_state, [file.key], cwd=kb)
        except UserError as exc:
            rejected.append(exc.message)
    assert rejected == []


# -- note_facts ------------------------------------------------------------------------


def facts(key: str, text: str) -> NoteFacts:
    return note_facts(KbFile(key, text.encode("utf-8")))


def test_note_facts() -> None:
    text = "---\ntype: kb/types/note.md\ntraits: [title-as-claim, x]\nstatus: seedling\n---\n"
    assert facts("kb/notes/a.md", text) == NoteFacts(
        "kb/types/note.md", frozenset({"title-as-claim", "x"}), "seedling", folder="kb/notes"
    )


@pytest.mark.parametrize(
    ("key", "written", "normalized"),
    [
        ("kb/notes/a.md", "kb/types/definition.md", "kb/types/definition.md"),
        ("kb/notes/a.md", "./types/structured-claim.md", "kb/notes/types/structured-claim.md"),
        ("kb/notes/sub/a.md", "./types/x.md", "kb/notes/sub/types/x.md"),
        ("kb/reference/adr/001.md", "../types/adr.md", "kb/reference/types/adr.md"),
        ("kb/notes/a/b/c.md", "../../types/x.md", "kb/notes/types/x.md"),
        ("kb/notes/a.md", "adr", "adr"),
        ("kb/notes/a.md", "'  kb/types/note.md  '", "kb/types/note.md"),
    ],
)
def test_note_facts_type_normalization(key: str, written: str, normalized: str) -> None:
    assert facts(key, f"---\ntype: {written}\n---\n").type == normalized


def test_normalize_type() -> None:
    assert normalize_type("./types/x.md", "kb/notes/a.md") == "kb/notes/types/x.md"
    assert normalize_type("../types/adr.md", "kb/reference/adr/x.md") == "kb/reference/types/adr.md"
    assert normalize_type("kb/types/note.md", "kb/notes/deep/a.md") == "kb/types/note.md"
    assert normalize_type("kb/./types//note.md", "kb/notes/a.md") == "kb/types/note.md"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("no frontmatter\n", NoteFacts(None, frozenset(), None)),
        ("---\n---\nbody\n", NoteFacts(None, frozenset(), None)),
        ("---\ntitle: x\n---\n", NoteFacts(None, frozenset(), None)),
        ("---\ntype: 3\nstatus: [a]\n---\n", NoteFacts(None, frozenset(), None)),
        ("---\ntraits: title-as-claim\n---\n", NoteFacts(None, frozenset(), None)),
        ("---\ntraits: [a, 3, b]\n---\n", NoteFacts(None, frozenset({"a", "b"}), None)),
        ("---\ntraits:\n  - a\n  - b\n---\n", NoteFacts(None, frozenset({"a", "b"}), None)),
        ("---\ntraits:\n---\n", NoteFacts(None, frozenset(), None)),
        ("\ufeff---\nstatus: current\n---\n", NoteFacts(None, frozenset(), "current")),
        ("---\r\nstatus: current\r\n---\r\n", NoteFacts(None, frozenset(), "current")),
    ],
)
def test_note_facts_shapes(text: str, expected: NoteFacts) -> None:
    assert facts("a.md", text) == expected  # a note at the root: folder ""


def test_note_facts_invalid_yaml() -> None:
    with pytest.raises(UserError) as info:
        facts("kb/notes/bad.md", "---\ntype: [unclosed\n---\n")
    assert info.value.message.startswith("kb/notes/bad.md: invalid YAML in frontmatter: ")


def test_frontmatter_block() -> None:
    assert KbFile("a.md", b"---\na: b\n---\nbody").frontmatter_block == "a: b\n"
    assert KbFile("a.md", b"\xef\xbb\xbf---\na: b\n---\n").frontmatter_block == "a: b\n"
    assert KbFile("a.md", b"# title\n---\na: b\n---\n").frontmatter_block is None
    assert KbFile("a.md", b"---\nunclosed\n").frontmatter_block is None


def test_note_facts_of_a_real_file(kb: Path) -> None:
    write(kb, "kb/notes/sub/deep/c.md", "---\ntype: ../types/x.md\ntraits: [t]\n---\n")
    assert note_facts(read_file(kb, "kb/notes/sub/deep/c.md")) == NoteFacts(
        "kb/notes/sub/types/x.md", frozenset({"t"}), None, folder="kb/notes/sub/deep"
    )


@pytest.mark.parametrize(
    ("value", "verified"),
    [
        ("true", True),
        ("True", True),
        ("yes", True),  # PyYAML reads YAML 1.1: `yes` is the boolean true
        ('"true"', False),  # a string, not the boolean
        ("'yes'", False),
        ("false", False),
        ("1", False),
        ("[true]", False),
        ("", False),
    ],
)
def test_note_facts_user_verified_is_the_yaml_boolean_true(value: str, verified: bool) -> None:
    text = f"---\ntype: kb/types/note.md\nuser-verified: {value}\n---\n"
    assert facts("kb/notes/a.md", text).user_verified is verified


def test_note_facts_user_verified_underscore_is_not_the_key() -> None:
    assert not facts("kb/notes/a.md", "---\nuser_verified: true\n---\n").user_verified


# -- recursive = false -----------------------------------------------------------------


def test_scan_notes_top_level_only(kb: Path) -> None:
    config = load_config(kb)._replace(recursive=False)
    assert keys(scan_notes(config, state(config))) == [
        "kb/notes/a.md",
        "kb/notes/bom.md",
        "kb/notes/reindex.md",
        "kb/reference/r.md",
    ]


def test_resolve_directory_top_level_only(kb: Path) -> None:
    config = load_config(kb)._replace(recursive=False)
    assert keys(resolve_notes(config, state(config), ["kb/notes/sub"], cwd=kb)) == [
        "kb/notes/sub/index-of-things.md"
    ]
    # A note in a subfolder is still a note when named.
    assert keys(resolve_notes(config, state(config), ["kb/notes/sub/deep/c.md"], cwd=kb)) == [
        "kb/notes/sub/deep/c.md"
    ]
    write(kb, "kb/notes/empty-top/deeper/d.md")
    assert refused(config, "kb/notes/empty-top") == "no reviewable notes in kb/notes/empty-top"
