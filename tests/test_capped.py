"""Reading an input file within the output cap, refusing what is no file."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from commonplace.capped import MAX_OUTPUT, read_capped_stream, read_regular_file
from commonplace.errors import UserError
from commonplace.runners import launch


def test_the_runners_and_ingest_share_one_cap() -> None:
    assert launch.MAX_TEXT_CHARS == MAX_OUTPUT == 32 * 1024 * 1024


def test_a_file_up_to_the_cap_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "out.md"
    path.write_bytes(b"x" * 100)
    assert read_regular_file(path, name="out.md", cap=100) == b"x" * 100


def test_a_file_over_the_cap_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "out.md"
    path.write_bytes(b"x" * 101)
    with pytest.raises(UserError, match=r"out\.md is larger than"):
        read_regular_file(path, name="out.md", cap=100)


@pytest.mark.parametrize("kind", ["fifo", "directory", "device", "missing"])
def test_what_is_no_regular_file_is_refused(tmp_path: Path, kind: str) -> None:
    path: str | Path = tmp_path / "thing"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        Path(path).mkdir()
    elif kind == "device":
        path = "/dev/null"
    with pytest.raises(UserError, match=r"^cannot read thing: "):
        read_regular_file(path, name="thing")


def test_a_symlink_to_a_fifo_is_refused_too(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "link.md").symlink_to(tmp_path / "fifo")
    with pytest.raises(UserError, match="a FIFO, not a regular file"):
        read_regular_file(tmp_path / "link.md", name="link.md")


def test_a_stream_is_cut_one_byte_past_the_cap() -> None:
    assert read_capped_stream(io.BytesIO(b"y" * 10), name="stdin", cap=10) == b"y" * 10
    with pytest.raises(UserError, match="stdin is larger than"):
        read_capped_stream(io.BytesIO(b"y" * 11), name="stdin", cap=10)
