"""The caches in the git folder: what is saved reads back, and anything else
(another kind or version, damage, a link, a FIFO, no git) reads as empty."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from commonplace import local_cache
from commonplace.git import GitState


def test_what_is_saved_reads_back(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()  # a git folder: its own subfolder is made
    folder = tmp_path / ".git" / local_cache.FOLDER
    local_cache.save(folder, "x.json", "kind/1", {"a": [1, "b", None]})
    assert local_cache.load(folder, "x.json", "kind/1") == {"a": [1, "b", None]}
    assert local_cache.load(folder, "x.json", "kind/2") is None
    assert local_cache.load(folder, "y.json", "kind/1") is None
    assert [p.name for p in folder.iterdir()] == ["x.json"]  # no temporary left


def test_another_version_reads_as_empty(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    folder.mkdir()
    (folder / "x.json").write_text(
        json.dumps({"kind": "kind/1", "version": "0.0.0-other", "payload": 1})
    )
    assert local_cache.load(folder, "x.json", "kind/1") is None


@pytest.mark.parametrize("raw", [b"", b"\xff\xfe", b"[1]", b"{", b"[" * 200_000])
def test_damage_reads_as_empty(tmp_path: Path, raw: bytes) -> None:
    folder = tmp_path / "cache"
    folder.mkdir()
    (folder / "x.json").write_bytes(raw)
    assert local_cache.load(folder, "x.json", "kind/1") is None


def test_links_fifos_and_folders_are_never_followed(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    local_cache.save(folder, "real.json", "kind/1", 7)
    os.symlink(folder / "real.json", folder / "link.json")
    os.mkfifo(folder / "fifo.json")
    (folder / "dir.json").mkdir()
    for name in ("link.json", "fifo.json", "dir.json"):
        assert local_cache.load(folder, name, "kind/1") is None
    local_cache.save(folder, "link.json", "kind/1", 8)  # refused, silently
    assert os.path.islink(folder / "link.json")
    assert local_cache.load(folder, "real.json", "kind/1") == 7


def test_a_folder_that_cannot_be_written_costs_nothing_but_the_cache(tmp_path: Path) -> None:
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("x")
    local_cache.save(blocked / "cache", "x.json", "kind/1", 1)  # no error
    assert local_cache.load(blocked / "cache", "x.json", "kind/1") is None


def test_outside_git_there_is_no_cache(tmp_path: Path) -> None:
    assert local_cache.cache_folder(GitState(is_repo=False)) is None
    assert local_cache.cache_folder(GitState(is_repo=True, git_dir=None)) is None
    inside = local_cache.cache_folder(GitState(is_repo=True, git_dir=str(tmp_path)))
    assert inside == tmp_path / local_cache.FOLDER
    local_cache.save(None, "x.json", "kind/1", 1)
    assert local_cache.load(None, "x.json", "kind/1") is None
