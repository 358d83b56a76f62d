"""`safe_files`: files are written below a root without ever following a
symbolic link, even one swapped in while the write is under way; and the
review store refuses a link at its file, its side files or its folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from commonplace import safe_files
from commonplace.errors import UserError
from commonplace.safe_files import LinkRefused, folder, refuse_links, write_file, writing_file
from commonplace.store.connection import Store


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "kb").mkdir()
    return tmp_path / "kb"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside the root, with one file, that no test may change."""
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "x.md").write_text("outside\n", encoding="utf-8")
    return tmp_path / "outside"


def entries(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir())


def test_writes_make_folders_replace_whole_files_and_leave_no_temporaries(root: Path) -> None:
    target = root / "a" / "b" / "out.md"
    assert write_file(root, target, b"first\n", setting="s")
    assert write_file(root, target, b"second\n", setting="s")
    assert target.read_bytes() == b"second\n"
    assert not write_file(root, target, b"third\n", setting="s", overwrite=False)
    assert target.read_bytes() == b"second\n"
    assert entries(target.parent) == ["out.md"]


@pytest.mark.parametrize("link", ["a", "a/b", "a/b/out.md"])
def test_a_link_on_the_way_or_at_the_file_is_refused(root: Path, outside: Path, link: str) -> None:
    (root / link).parent.mkdir(parents=True, exist_ok=True)
    (root / link).symlink_to(outside if link != "a/b/out.md" else outside / "x.md")

    with pytest.raises(LinkRefused) as refused:
        write_file(root, root / "a/b/out.md", b"text\n", setting='reports_dir = "a"')

    message = refused.value.message
    assert message.startswith("refusing to write a/b/out.md: ")
    assert (f"{link} is a symbolic link" in message) or ("it is a symbolic link" in message)
    assert 'reports_dir = "a"' in message
    assert entries(outside) == ["x.md"]
    assert (outside / "x.md").read_text(encoding="utf-8") == "outside\n"


def test_a_folder_swapped_for_a_link_after_it_was_opened_is_not_followed(
    root: Path, outside: Path
) -> None:
    (root / "a").mkdir()
    with folder(root, root / "a", setting="s") as where:
        os.rename(root / "a", root / "moved")
        (root / "a").symlink_to(outside)
        where.write("out.md", b"text\n")
    assert (root / "moved" / "out.md").read_bytes() == b"text\n"  # the folder opened
    assert entries(outside) == ["x.md"]


def test_a_file_swapped_for_a_link_at_the_last_moment_is_replaced_not_followed(
    root: Path, outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (root / "out.md").symlink_to(outside / "x.md")
    # the check saw no link: the link appears between the check and the write
    monkeypatch.setattr(safe_files.Folder, "kind", lambda self, name: None)
    write_file(root, root / "out.md", b"text\n", setting="s")
    assert not (root / "out.md").is_symlink()
    assert (root / "out.md").read_bytes() == b"text\n"
    assert (outside / "x.md").read_text(encoding="utf-8") == "outside\n"


def test_paths_outside_the_root_only_when_allowed_and_never_onto_a_link(
    root: Path, outside: Path
) -> None:
    with pytest.raises(UserError, match="outside the knowledge base"):
        write_file(root, root / ".." / "outside" / "new.md", b"x", setting="s")
    with pytest.raises(UserError, match="outside the knowledge base"):
        write_file(root, outside / "new.md", b"x", setting="s")
    assert entries(outside) == ["x.md"]

    write_file(root, outside / "deeper" / "new.md", b"x", setting="--out", outside_ok=True)
    assert (outside / "deeper" / "new.md").read_bytes() == b"x"
    (outside / "link.md").symlink_to(outside / "x.md")
    with pytest.raises(LinkRefused, match="--out"):
        write_file(root, outside / "link.md", b"x", setting="--out", outside_ok=True)
    assert (outside / "x.md").read_text(encoding="utf-8") == "outside\n"


def test_a_file_or_folder_in_the_way_is_a_user_error(root: Path) -> None:
    (root / "blocker").write_text("a file\n", encoding="utf-8")
    with pytest.raises(UserError, match="blocker is not a folder"):
        write_file(root, root / "blocker" / "out.md", b"x", setting="s")
    (root / "dir" / "out.md").mkdir(parents=True)
    with pytest.raises(UserError, match="it is a folder"):
        write_file(root, root / "dir" / "out.md", b"x", setting="s")
    with pytest.raises(UserError, match="does not exist"):
        write_file(root, root / "missing" / "out.md", b"x", setting="s", make_parents=False)


def test_refuse_links_checks_the_path_and_optionally_the_folders_entries(
    root: Path, outside: Path
) -> None:
    refuse_links(root, root / "not" / "there", setting="s")  # nothing to refuse
    (root / "r").mkdir()
    (root / "r" / "entry").symlink_to(outside)
    refuse_links(root, root / "r", setting="s")
    with pytest.raises(LinkRefused, match="write r/entry: it is a symbolic link"):
        refuse_links(root, root / "r", setting="s", entries=True)
    with pytest.raises(LinkRefused, match="write r/entry/deeper: r/entry is a symbolic link"):
        refuse_links(root, root / "r" / "entry" / "deeper", setting="s")


@pytest.mark.parametrize(
    "link",
    ["db", "db/store.sqlite", *(f"db/store.sqlite{s}" for s in ("-wal", "-shm", "-journal"))],
)
@pytest.mark.parametrize("exists", [False, True], ids=["new", "existing"])
def test_the_store_refuses_a_link_before_sqlite_opens_anything(
    root: Path, outside: Path, link: str, exists: bool
) -> None:
    path = root / "db" / "store.sqlite"
    if exists:
        with Store(path, root=root) as store, store.write():
            pass
        for suffix in ("-wal", "-shm"):
            assert not Path(f"{path}{suffix}").exists()
    (root / "db").mkdir(exist_ok=True)
    if link == "db":
        os.rename(root / "db", outside / "db")
        (root / "db").symlink_to(outside / "db")
    else:
        target = outside / Path(link).name
        if os.path.lexists(root / link):
            os.rename(root / link, target)
        else:
            target.write_bytes(b"")
        (root / link).symlink_to(target)
    before = {p.name: p.read_bytes() for p in outside.rglob("*") if p.is_file()}

    with Store(path, root=root, setting="--db") as store:
        with pytest.raises(LinkRefused, match=r"symbolic link.*--db"), store.write():
            pass
        with pytest.raises(LinkRefused):
            store.migrate()

    assert {p.name: p.read_bytes() for p in outside.rglob("*") if p.is_file()} == before


def test_a_store_outside_the_root_is_fine_unless_it_is_a_link(root: Path, outside: Path) -> None:
    path = outside / "deep" / "store.sqlite"
    with Store(path, root=root) as store, store.write():
        pass
    assert path.is_file()
    assert path.stat().st_mode & 0o777 == 0o600
    (outside / "linked.sqlite").symlink_to(path)
    with Store(outside / "linked.sqlite", root=root) as store, pytest.raises(LinkRefused):
        store.migrate()


def test_a_streamed_write_lands_whole_or_not_at_all(root: Path, outside: Path) -> None:
    target = root / "out" / "dump.jsonl"
    with writing_file(root, target, setting="--out") as handle:
        handle.write(b"one\n")
        assert not target.exists()  # nothing at the name until the end
        handle.write(b"two\n")
    assert target.read_bytes() == b"one\ntwo\n"
    with pytest.raises(RuntimeError), writing_file(root, target, setting="--out") as handle:
        handle.write(b"half")
        raise RuntimeError("the writer failed")
    assert target.read_bytes() == b"one\ntwo\n"
    assert entries(target.parent) == ["dump.jsonl"]  # no temporary left behind
    (root / "out" / "link.jsonl").symlink_to(outside / "x.md")
    with pytest.raises(LinkRefused), writing_file(root, root / "out" / "link.jsonl", setting="s"):
        pass
    assert (outside / "x.md").read_text(encoding="utf-8") == "outside\n"


def test_a_pipe_at_the_target_is_refused_and_left_in_place(root: Path) -> None:
    # The atomic rename would swap a device or pipe for a plain file
    # (`--out /dev/full` as root replaced the device).
    pipe = root / "out.html"
    os.mkfifo(pipe)
    with pytest.raises(UserError, match="not a regular file"):
        write_file(root, pipe, b"x", setting="--out")
    with (
        pytest.raises(UserError, match="not a regular file"),
        writing_file(root, pipe, setting="--out") as handle,
    ):
        handle.write(b"x")
    assert pipe.is_fifo()
    assert sorted(p.name for p in root.iterdir()) == ["out.html"]
