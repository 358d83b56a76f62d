"""Finding a KB's scan roots and gates folder (`kb.layout`), on real folders."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.kb import CORPUS, EXAMPLE_KB, require_shared

from commonplace.git import GitState, read_state
from commonplace.kb.layout import detect_layout

NOTE = "---\ndescription: a note\n---\n# A note\n"
GATE = "---\ndescription: a gate\nwatches: [body]\n---\n# A gate\n"


def write(root: Path, files: dict[str, str]) -> Path:
    for key, text in files.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


NO_GIT = GitState(is_repo=False)


def test_the_example_kb_is_the_default_layout() -> None:
    layout = detect_layout(EXAMPLE_KB, NO_GIT)
    assert layout.scan_roots == ("kb/notes",)
    assert layout.gates_dir == "kb/instructions/review-gates"
    assert (layout.reports_dir, layout.store) == ("kb/reports", "kb/reports/review-store.sqlite")
    assert (layout.notes_found, layout.gates_found) == (5, 5)  # index.md and kb/types are not notes
    assert layout.roots_detected and layout.gates_detected


@pytest.mark.corpus
def test_the_corpus_is_found_as_configured_by_default() -> None:
    layout = detect_layout(require_shared(CORPUS), NO_GIT)
    assert layout.scan_roots == ("kb/notes", "kb/reference")
    assert layout.gates_dir == "kb/instructions/review-gates"
    assert layout.gates_found == 37
    assert layout.left_out == ()


def test_a_layout_of_its_own(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "notes/a.md": NOTE,
            "notes/deep/b.md": NOTE,
            "journal/2024.md": NOTE,
            "rules/style/short.md": GATE,
            "rules/style/clear.md": "---\ngate_id: style/clear\n---\nbody\n",
            "rules/README.md": "# how the rules work\n",
            "docs/plain.md": "# no frontmatter: not a note\n",
            "README.md": NOTE,  # a README is never a note, even with frontmatter
        },
    )
    layout = detect_layout(tmp_path, NO_GIT)
    assert layout.scan_roots == ("journal", "notes")
    assert layout.gates_dir == "rules"
    assert layout.gates_found == 2
    assert layout.notes_found == 3
    # no kb/ folder: the artifacts and store get a folder of their own
    assert layout.store == "reports/review-store.sqlite"


def test_a_scan_root_never_holds_the_gates_or_the_reports(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "kb/notes/a.md": NOTE,
            "kb/gates/x/g.md": GATE,
            "kb/loose.md": NOTE,  # beside the gates folder: no scan root can take it
            "top.md": NOTE,  # at the KB root: neither
            "reports/r.md": NOTE,  # notes in reports/: the reports go elsewhere
        },
    )
    layout = detect_layout(tmp_path, NO_GIT)
    assert layout.gates_dir == "kb/gates"
    assert layout.reports_dir == "kb/reports"
    assert layout.scan_roots == ("kb/notes", "reports")
    assert layout.left_out == ("kb/loose.md", "top.md")


def test_an_empty_kb_gets_the_defaults(tmp_path: Path) -> None:
    layout = detect_layout(tmp_path, NO_GIT)
    assert layout.scan_roots == ("kb/notes", "kb/reference")
    assert layout.gates_dir == "review-gates"  # no kb/ folder
    assert not layout.roots_detected and not layout.gates_detected
    (tmp_path / "kb").mkdir()
    assert detect_layout(tmp_path, NO_GIT).gates_dir == "kb/instructions/review-gates"


def test_links_hidden_folders_ignored_files_and_bad_names_are_passed_over(
    tmp_path: Path,
) -> None:
    outside = write(tmp_path / "outside", {"n/x.md": NOTE, "g/l/x.md": GATE})
    kb = write(
        tmp_path / "kb",
        {
            "notes/a.md": NOTE,
            ".obsidian/n.md": NOTE,
            "node_modules/p/n.md": NOTE,
            "build/n.md": NOTE,
            "bad\nname/n.md": NOTE,
            "odd :: dir/n.md": NOTE,
        },
    )
    (kb / "linked").symlink_to(outside / "n")
    (kb / "gates").symlink_to(outside / "g")
    (kb / ".gitignore").write_text("build/\n")
    import subprocess

    subprocess.run(["git", "init", "-q"], cwd=kb, check=True)
    layout = detect_layout(kb, read_state(kb, ["."]))
    assert layout.scan_roots == ("notes",)
    assert not layout.gates_detected


def test_frontmatter_that_is_not_a_mapping_still_makes_a_note(tmp_path: Path) -> None:
    write(tmp_path, {"notes/bad.md": "---\n- a list\n---\nbody\n", "rules/l/g.md": GATE})
    layout = detect_layout(tmp_path, NO_GIT)
    assert layout.scan_roots == ("notes",)
    assert layout.gates_dir == "rules"
