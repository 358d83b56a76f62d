"""The type specs and COLLECTION.md files come from one walk of the KB tree
per command (per Config), and that walk finds exactly what walking kb/ and
each scan root on its own finds: links, hidden folders, roots outside kb/,
roots under a link or a hidden folder, roots inside other roots."""

from __future__ import annotations

import os
import posixpath
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers.kb import commit_all, git

from commonplace.config import Config, load_config
from commonplace.errors import UserError
from commonplace.kb import conformance
from commonplace.kb.gates import every_gate_ids, load_found_gates, resolve_gate_ids
from commonplace.workspace import open_workspace

FILES = {
    "commonplace.toml": "",
    "kb/instructions/review-gates/style/a.md": "---\ndescription: a\n---\n# A\n",
    "kb/types/note.md": "# note\n",
    "kb/types/index.md": "# the index, no spec\n",
    "kb/types/README.md": "# no spec\n",
    "kb/types/.hidden.md": "# no spec\n",
    "kb/types/sub/deeper.md": "# in a folder under types/, no spec\n",
    "kb/notes/types/claim.md": "# claim\n",
    "kb/notes/types/note.md": "# a second note spec\n",
    "kb/.secret/types/hidden.md": "# in a hidden folder\n",
    "kb/notes/COLLECTION.md": "# notes\n",
    "kb/notes/sub/COLLECTION.md": "# sub\n",
    "kb/notes/sub/deep/x.md": "---\ntitle: x\n---\n",
    "kb/notes/.hidden/COLLECTION.md": "# hidden\n",
    "kb/notes/dir-named/COLLECTION.md/inside.md": "# a folder called COLLECTION.md\n",
    "kb/reference/COLLECTION.md": "# reference\n",
    "kb/reference/sub/COLLECTION.md": "# a second sub\n",
    "kb/.roots/hidden-root/COLLECTION.md": "# a scan root in a hidden folder\n",
    "outside/COLLECTION.md": "# a scan root outside kb/\n",
    "outside/inner/COLLECTION.md": "# inner\n",
    "elsewhere/types/far.md": "# types outside kb/: no spec\n",
    "target/COLLECTION.md": "# reached through a link\n",
    "target/types/linked.md": "# reached through a link\n",
}
LINKS = {
    "kb/linked": "../target",  # a folder link: never followed by a walk
    "kb/notes/link-collection/COLLECTION.md": "../../../target/COLLECTION.md",
    "kb/notes/link-collection/n.md": "../../../target/COLLECTION.md",
    "kb/types/link.md": "note.md",
}


@pytest.fixture
def kb(tmp_path: Path) -> Path:
    root = tmp_path / "walk-kb"
    for key, text in FILES.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_text(text, encoding="utf-8")
    for key, target in LINKS.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).symlink_to(target)
    git(root, "init", "-q")
    commit_all(root, "initial")
    return root


def _walk_each(config: Config, top: str) -> list[str]:
    """The walk of one top as it was done before, once per top and per call."""
    top = posixpath.normpath(top)
    if not (config.kb_root / top).is_dir() or (config.kb_root / top).is_symlink():
        return []
    folders, stack = [], [top]
    while stack:
        rel = stack.pop()
        folders.append(rel)
        for entry in os.scandir(config.kb_root / rel):
            if entry.name.startswith(".") or entry.is_symlink() or not entry.is_dir():
                continue
            stack.append(entry.name if rel in ("", ".") else f"{rel}/{entry.name}")
    return sorted(folders)


def _expected(config: Config) -> conformance.ConformanceFiles:
    types: dict[str, list[str]] = {}
    for folder in _walk_each(config, "kb"):
        if posixpath.basename(folder) != "types":
            continue
        for entry in sorted(os.scandir(config.kb_root / folder), key=lambda e: e.name):
            if conformance._is_spec(entry):
                types.setdefault(entry.name[:-3], []).append(f"{folder}/{entry.name}")
    collections: dict[str, set[str]] = {}
    for root in config.scan_roots:
        for folder in _walk_each(config, root):
            path = config.kb_root / folder / "COLLECTION.md"
            name = posixpath.basename(folder)
            if name not in ("", ".") and path.is_file() and not path.is_symlink():
                collections.setdefault(name, set()).add(f"{folder}/COLLECTION.md")
    return conformance.ConformanceFiles(types, {n: sorted(k) for n, k in collections.items()})


@pytest.mark.parametrize(
    "roots",
    [
        ("kb/notes", "kb/reference"),
        ("kb/reference", "kb/notes", "outside"),
        (".",),
        ("kb",),
        ("kb/notes/sub", "kb/notes"),  # a root inside another
        ("kb/.roots/hidden-root", "kb/notes"),  # under a hidden folder: walked on its own
        ("kb/linked", "kb/notes/.hidden"),  # a link to a folder, a hidden root
        ("outside/inner", "outside", "missing/folder"),
    ],
)
def test_one_walk_finds_what_a_walk_per_top_finds(kb: Path, roots: tuple[str, ...]) -> None:
    config = load_config(kb)._replace(scan_roots=roots)
    found = conformance.conformance_files(config)
    expected = _expected(config)
    assert found == expected
    # the order too: the names come first-found first, as `did you mean` sees them
    assert list(found.types) == list(expected.types)
    assert list(found.collections) == list(expected.collections)


def test_the_default_layout(kb: Path) -> None:
    found = conformance.conformance_files(load_config(kb))
    assert found.types == {
        "claim": ["kb/notes/types/claim.md"],
        "note": ["kb/notes/types/note.md", "kb/types/note.md"],
    }
    assert found.collections == {
        "notes": ["kb/notes/COLLECTION.md"],
        "reference": ["kb/reference/COLLECTION.md"],
        "sub": ["kb/notes/sub/COLLECTION.md", "kb/reference/sub/COLLECTION.md"],
    }


def _count_walks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The folders the conformance module lists, one entry per listing."""
    scanned: list[str] = []
    real = os.scandir

    def scandir(path: Any = ".") -> Any:
        if sys._getframe(1).f_globals.get("__name__") == conformance.__name__:
            scanned.append(os.fspath(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    return scanned


def test_a_command_walks_the_tree_once(kb: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Everything the selector does with conformance gates: the git status of
    the specs' folders, every gate id, loading each gate, resolving refs, and
    the errors for unknown and ambiguous names."""
    scanned = _count_walks(monkeypatch)
    ws = open_workspace(cwd=kb)
    ws.git_state()
    ids = every_gate_ids(ws.config)
    scan = load_found_gates(ws.config, ids)
    assert [g.id for g in scan.gates] == [
        "style/a",
        "type/claim",
        "type/note",
        "collection/notes",
        "collection/reference",
    ]
    assert [(u.key, u.detail) for u in scan.unusable] == [
        (
            "collection/sub",
            "gate collection/sub is ambiguous: kb/notes/sub/COLLECTION.md,"
            " kb/reference/sub/COLLECTION.md",
        ),
    ]
    assert resolve_gate_ids(ws.config, ["type", "collection/notes"]) == [
        "type/claim",
        "type/note",
        "collection/notes",
    ]
    with pytest.raises(
        UserError, match=r"gate not found: type/notte \(did you mean 'type/note'\?\)"
    ):
        resolve_gate_ids(ws.config, ["type/notte"])
    assert scanned, "the walk was not seen"
    assert len(scanned) == len(set(scanned)), "a folder was listed twice"


def test_the_walk_is_kept_per_config(kb: Path) -> None:
    """A Config lives as long as one command: a spec added after the walk is
    found by the next command's Config, or a copy with other settings."""
    config = load_config(kb)
    assert "late" not in conformance.conformance_files(config).types
    (kb / "kb/types/late.md").write_text("# late\n", encoding="utf-8")
    assert "late" not in conformance.conformance_files(config).types
    assert "late" in conformance.conformance_files(load_config(kb)).types
    assert "late" not in conformance.conformance_files(config._replace()).types
    assert "late" in conformance.conformance_files(config._replace(recursive=False)).types
    assert conformance.conformance_files(config._replace(found=None)).types["late"]
