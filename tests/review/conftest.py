"""Fixtures of the review library tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from commonplace.workspace import Workspace, open_workspace


@pytest.fixture
def ws(example_kb: Path, tmp_path: Path) -> Workspace:
    """A workspace on the example KB with its store under tmp_path."""
    return open_workspace(db=tmp_path / "db" / "store.sqlite", cwd=example_kb)
