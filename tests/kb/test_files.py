"""KB files read once: bytes, text and git blob id."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest

from commonplace.errors import UserError
from commonplace.git import blob_sha
from commonplace.kb.files import KbFile, read_file


def test_read_file(tmp_path: Path) -> None:
    data = "---\ntype: x\n---\ncafé\r\n".encode()
    (tmp_path / "kb/notes").mkdir(parents=True)
    (tmp_path / "kb/notes/a.md").write_bytes(data)
    file = read_file(tmp_path, "kb/notes/a.md")
    assert file == KbFile("kb/notes/a.md", data)
    assert file.key == "kb/notes/a.md"
    assert file.data == data
    assert file.text == "---\ntype: x\n---\ncafé\r\n"
    assert file.sha == blob_sha(data)


def test_sha_matches_git_hash_object(tmp_path: Path) -> None:
    contents = [b"", b"plain\n", b"crlf\r\nline\r\n", b"\xef\xbb\xbfbom\n", bytes(range(256))]
    paths = []
    for index, data in enumerate(contents):
        path = tmp_path / f"f{index}.md"
        path.write_bytes(data)
        paths.append(path)
    out = subprocess.run(
        ["git", "hash-object", "--stdin-paths"],
        input="".join(f"{p}\n" for p in paths),
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout.split()
    assert [read_file(tmp_path, p.name).sha for p in paths] == out


def test_file_is_immutable() -> None:
    file = KbFile("a.md", b"x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        file.key = "b.md"  # type: ignore[misc]


def test_non_utf8_text(tmp_path: Path) -> None:
    (tmp_path / "bad.md").write_bytes(b"---\ntitle: \xff\xfe\n---\n")
    file = read_file(tmp_path, "bad.md")
    assert file.sha == blob_sha(b"---\ntitle: \xff\xfe\n---\n")  # hashing needs no decoding
    with pytest.raises(UserError) as info:
        _ = file.text
    assert info.value.message == "bad.md is not UTF-8 text"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UserError) as info:
        read_file(tmp_path, "kb/notes/missing.md")
    assert info.value.message == "cannot read kb/notes/missing.md: No such file or directory"


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    (tmp_path / "kb").mkdir()
    with pytest.raises(UserError, match=r"^cannot read kb: Is a directory$"):
        read_file(tmp_path, "kb")
