"""Fixtures of the review library tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from commonplace.store.connection import Store
from commonplace.workspace import Workspace, open_workspace


@pytest.fixture
def ws(example_kb: Path, tmp_path: Path) -> Workspace:
    """A workspace on the example KB with its store under tmp_path."""
    return open_workspace(db=tmp_path / "db" / "store.sqlite", cwd=example_kb)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A store at tmp_path/store.sqlite, closed after the test."""
    with Store(tmp_path / "store.sqlite") as store:
        yield store
