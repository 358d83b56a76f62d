from __future__ import annotations

from pathlib import Path

import pytest

from commonplace.errors import UserError
from commonplace.workspace import open_workspace


def test_workspace_finds_the_kb_from_a_subdirectory(example_kb: Path) -> None:
    ws = open_workspace(cwd=example_kb / "kb" / "notes" / "topics")
    assert ws.config.kb_root == example_kb
    assert ws.store.path == example_kb / "kb/reports/review-store.sqlite"
    assert ws.cwd == example_kb / "kb" / "notes" / "topics"
    assert not ws.store.exists  # opening a workspace creates nothing


def test_db_option_wins_over_the_environment(
    example_kb: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMMONPLACE_REVIEW_DB", "elsewhere.sqlite")
    assert open_workspace(cwd=example_kb).store.path == example_kb / "elsewhere.sqlite"
    chosen = tmp_path / "chosen.sqlite"
    assert open_workspace(db=chosen, cwd=example_kb).store.path == chosen


def test_git_state_sees_an_uncommitted_gate(example_kb: Path) -> None:
    gate = example_kb / "kb/instructions/review-gates/clarity/undefined-abbreviation.md"
    gate.write_text(gate.read_text(encoding="utf-8") + "\nMore.\n", encoding="utf-8")
    state = open_workspace(cwd=example_kb).git_state()
    assert state.is_dirty("kb/instructions/review-gates/clarity/undefined-abbreviation.md")
    assert state.is_clean("kb/notes/frost-dates.md")


def test_no_kb_above_is_a_clear_error(tmp_path: Path) -> None:
    lonely = tmp_path / "nowhere"
    lonely.mkdir()
    with pytest.raises(UserError, match="no knowledge base found"):
        open_workspace(cwd=lonely)
