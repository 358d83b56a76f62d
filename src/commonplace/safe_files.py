"""Writing files without following symbolic links (SPEC 13).

Every file the tool writes (artifacts, reports, the review store) is reached
from the real KB root one component at a time through directory descriptors
opened with `O_NOFOLLOW`, so a link committed anywhere on the way, or swapped
in while we walk, is refused instead of followed. A file is written under a
fresh temporary name (`O_CREAT | O_EXCL | O_NOFOLLOW`) and renamed into place
inside the same directory descriptor: a rename replaces a link at the final
name instead of writing through it.

A path the user typed (`--out`, `--db`, `COMMONPLACE_REVIEW_DB`) may lie
outside the KB: its folders are then the user's business, but the file itself
is still never reached through a link.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

from commonplace.errors import UserError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class LinkRefused(UserError):
    """A path the tool would write goes through a symbolic link. Never
    downgraded to a warning: the link may lead anywhere."""


def parts_under(root: Path, path: Path) -> tuple[str, ...] | None:
    """The components of `path` below `root` (both made absolute, `..`
    collapsed), or None when `path` is not inside `root`."""
    target = Path(os.path.normpath(os.path.abspath(path)))
    base = Path(os.path.abspath(root))
    try:  # lexical, as comparing with each of the parents would be, and cheaper
        return target.relative_to(base).parts
    except ValueError:
        pass
    # the root's real path only when needed: resolving costs a `stat` per
    # component, and an ingest opens a folder per run
    real = root.resolve()
    if real != base and (target == real or real in target.parents):
        return target.relative_to(real).parts
    return None


def _refuse(shown: str, component: str, setting: str) -> LinkRefused:
    which = "it" if component == shown else component
    return LinkRefused(
        f"refusing to write {shown}: {which} is a symbolic link, and nothing is written"
        f" through one (the path comes from {setting}); replace the link with a real folder"
        " or file, or change the setting"
    )


class Folder:
    """An open directory that files are written into by name."""

    def __init__(self, fd: int, shown: str, setting: str) -> None:
        self.fd, self.shown, self.setting = fd, shown, setting
        # temporary names: pid and randomness once per folder (two system
        # calls fewer per file), a count for each file
        self._tag, self._made = f"{os.getpid()}.{os.urandom(4).hex()}", 0

    def named(self, name: str) -> str:
        return name if self.shown == "." else f"{self.shown}/{name}"

    def _refused(self, name: str) -> LinkRefused:
        return _refuse(self.named(name), self.named(name), self.setting)

    def kind(self, name: str) -> int | None:
        """The `stat` file type of `name` here (a link is not followed), or None."""
        try:
            return stat.S_IFMT(os.stat(name, dir_fd=self.fd, follow_symlinks=False).st_mode)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise UserError(f"cannot look at {self.named(name)}: {exc.strerror}") from None

    def refuse_link(self, name: str) -> None:
        if self.kind(name) == stat.S_IFLNK:
            raise self._refused(name)

    def _refuse_special(self, name: str, found: int | None) -> None:
        """A folder, device, pipe or socket at `name` is never replaced: the
        rename that makes a write atomic would swap it for a plain file."""
        if found == stat.S_IFDIR:
            raise UserError(f"cannot write {self.named(name)}: it is a folder")
        if found not in (None, stat.S_IFREG):
            raise UserError(
                f"cannot write {self.named(name)}: it is not a regular file"
                " (a device, pipe or socket); name a file instead"
            )

    def read(self, name: str) -> bytes | None:
        """The bytes of the regular file `name` here, or None when there is
        none; a link there is refused, never followed."""
        try:
            # O_NONBLOCK: a pipe planted here must not block the open
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
            fd = os.open(name, flags, dir_fd=self.fd)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise self._refused(name) from None
            raise UserError(f"cannot read {self.named(name)}: {exc.strerror}") from None
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                return None
            return handle.read()

    def remove(self, name: str) -> None:
        """Delete the regular file `name` here (a link is refused, not removed)."""
        if self.kind(name) == stat.S_IFLNK:
            raise self._refused(name)
        try:
            os.unlink(name, dir_fd=self.fd)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise UserError(f"cannot delete {self.named(name)}: {exc.strerror}") from None

    def _temporary(self, name: str) -> str:
        """A fresh name to write `name` under before renaming it into place."""
        self._made += 1
        return f".{name}.{self._tag}.{self._made}.tmp"

    def write(self, name: str, data: bytes, *, overwrite: bool = True) -> bool:
        """Write `name` whole, atomically; False when it exists and not `overwrite`."""
        found = self.kind(name)
        if found == stat.S_IFLNK:
            raise self._refused(name)
        if found is not None and not overwrite:
            return False
        self._refuse_special(name, found)
        temporary = self._temporary(name)
        try:
            fd = os.open(temporary, _FILE_FLAGS, 0o666, dir_fd=self.fd)
            try:
                try:  # plain writes: a buffered file object costs more than the write
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view) :]
                finally:
                    os.close(fd)
                # a link put at `name` meanwhile is replaced, never followed
                os.replace(temporary, name, src_dir_fd=self.fd, dst_dir_fd=self.fd)
            except BaseException:
                with suppress(OSError):
                    os.unlink(temporary, dir_fd=self.fd)
                raise
        except OSError as exc:
            raise UserError(f"cannot write {self.named(name)}: {exc.strerror or exc}") from None
        return True

    @contextmanager
    def writing(self, name: str) -> Iterator[BinaryIO]:
        """`write`, a piece at a time: the handle writes a fresh temporary
        file, renamed to `name` only when the block ends without an error,
        so a failed or interrupted writer leaves `name` as it was."""
        found = self.kind(name)
        if found == stat.S_IFLNK:
            raise self._refused(name)
        self._refuse_special(name, found)
        temporary = self._temporary(name)
        try:
            fd = os.open(temporary, _FILE_FLAGS, 0o666, dir_fd=self.fd)
        except OSError as exc:
            raise UserError(f"cannot write {self.named(name)}: {exc.strerror or exc}") from None
        try:
            with os.fdopen(fd, "wb") as handle:
                yield handle
            os.replace(temporary, name, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        except BaseException:
            with suppress(OSError):
                os.unlink(temporary, dir_fd=self.fd)
            raise

    def create_empty(self, name: str, mode: int) -> None:
        """Create `name` if it is missing, without following a link there."""
        try:
            os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, mode, dir_fd=self.fd))
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise self._refused(name) from None
            raise UserError(f"cannot create {self.named(name)}: {exc.strerror}") from None


@contextmanager
def folder(
    root: Path | None,
    path: Path,
    *,
    setting: str,
    create: bool = True,
    outside_ok: bool = False,
    writing: str | None = None,
) -> Iterator[Folder]:
    """The directory `path`, opened without following links below `root`
    (made when `create`). Outside `root` (or with no `root`) only when
    `outside_ok`; its folders are then opened as they are. `writing` names
    the file wanted there, for messages."""
    parts = parts_under(root, path) if root is not None else None
    shown = _shown(path, parts)
    wanted = writing or shown
    if root is None or parts is None:
        if not outside_ok:
            raise UserError(f"refusing to write {wanted}: it is outside the knowledge base")
        fd = _open_outside(path, wanted, create)
    else:
        fd = _walk(root, parts, setting=setting, create=create, shown=wanted)
    try:
        yield Folder(fd, shown, setting)
    finally:
        os.close(fd)


def write_file(
    root: Path,
    path: Path,
    data: bytes,
    *,
    setting: str,
    make_parents: bool = True,
    overwrite: bool = True,
    outside_ok: bool = False,
) -> bool:
    """Write `path` whole (see `Folder.write`) without following any link
    below `root`; False when it existed and not `overwrite`."""
    target = Path(os.path.normpath(os.path.abspath(path)))
    if not target.name:
        raise UserError(f"cannot write {path}: it is a folder")
    with folder(
        root,
        target.parent,
        setting=setting,
        create=make_parents,
        outside_ok=outside_ok,
        writing=_show(root, target),
    ) as where:
        return where.write(target.name, data, overwrite=overwrite)


@contextmanager
def writing_file(
    root: Path, path: Path, *, setting: str, outside_ok: bool = False
) -> Iterator[BinaryIO]:
    """A handle that writes `path` whole (see `Folder.writing`), never
    through a link below `root`, nor at `path` itself."""
    target = Path(os.path.normpath(os.path.abspath(path)))
    if not target.name:
        raise UserError(f"cannot write {path}: it is a folder")
    with (
        folder(
            root, target.parent, setting=setting, outside_ok=outside_ok, writing=_show(root, target)
        ) as where,
        where.writing(target.name) as handle,
    ):
        yield handle


def refuse_links(root: Path, path: Path, *, setting: str, entries: bool = False) -> None:
    """Refuse when any existing component of `path` below `root` is a link
    (and, with `entries`, any entry of the folder `path`). A check by name,
    for refusing early, before anything changes; the writes check again."""
    parts = parts_under(root, path)
    if not parts:
        return
    current = os.path.abspath(root)  # a string: a Path per component costs more than the lstat
    for index, part in enumerate(parts):
        current = os.path.join(current, part)
        try:
            mode = os.lstat(current).st_mode
        except OSError:
            return  # missing: nothing further can be a link
        if stat.S_ISLNK(mode):
            raise _refuse("/".join(parts), "/".join(parts[: index + 1]), setting)
    if entries and stat.S_ISDIR(mode):
        try:
            with os.scandir(current) as found:
                links = [entry.name for entry in found if entry.is_symlink()]
        except OSError:
            return  # unreadable: the write itself will say why
        if links:
            shown = "/".join((*parts, links[0]))
            raise _refuse(shown, shown, setting)


def _walk(root: Path, parts: Sequence[str], *, setting: str, create: bool, shown: str) -> int:
    try:
        fd = os.open(root, _DIR_FLAGS)
    except OSError as exc:
        raise UserError(f"cannot open the knowledge base {root}: {exc.strerror}") from None
    try:
        for index, part in enumerate(parts):
            fd = _step(fd, part, "/".join(parts[: index + 1]), setting, create, shown)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _step(fd: int, part: str, so_far: str, setting: str, create: bool, shown: str) -> int:
    """Open the folder `part` under `fd` (closing `fd`), making it if allowed."""
    for _attempt in range(3):  # a folder made or removed meanwhile: look again
        try:
            child = os.open(part, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=fd)
        except FileNotFoundError:
            if not create:
                raise UserError(f"cannot write {shown}: {so_far} does not exist") from None
            try:
                os.mkdir(part, 0o777, dir_fd=fd)
            except FileExistsError:
                pass
            except OSError as exc:
                raise UserError(f"cannot make {so_far}: {exc.strerror}") from None
            continue
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                try:
                    link = stat.S_ISLNK(os.stat(part, dir_fd=fd, follow_symlinks=False).st_mode)
                except OSError:
                    link = False
                if link or exc.errno == errno.ELOOP:
                    raise _refuse(shown, so_far, setting) from None
                raise UserError(f"cannot write {shown}: {so_far} is not a folder") from None
            raise UserError(f"cannot open {so_far}: {exc.strerror}") from None
        os.close(fd)
        return child
    raise UserError(f"cannot write {shown}: {so_far} keeps changing")


def _open_outside(path: Path, shown: str, create: bool) -> int:
    try:
        if create:
            path.mkdir(parents=True, exist_ok=True)
        return os.open(path, _DIR_FLAGS)
    except OSError as exc:
        raise UserError(f"cannot write into {shown}: {exc.strerror or exc}") from None


def _show(root: Path | None, path: Path) -> str:
    return _shown(path, parts_under(root, path) if root is not None else None)


def _shown(path: Path, parts: tuple[str, ...] | None) -> str:
    if parts is None:
        return str(path)
    return "/".join(parts) or "."
