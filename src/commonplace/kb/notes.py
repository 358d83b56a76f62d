"""Notes: which files are reviewable, and the frontmatter facts review needs."""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

from commonplace import frontmatter
from commonplace.config import Config
from commonplace.errors import UserError
from commonplace.git import GitState
from commonplace.kb.examples import in_examples_folder
from commonplace.kb.facts import NoteFacts as NoteFacts  # re-exported: routing's home
from commonplace.kb.facts import normalize_type as normalize_type
from commonplace.kb.files import KbFile, read_bytes
from commonplace.kb.paths import key_for_path, shown, why_unreviewable_name
from commonplace.kb.unreviewable import UNREADABLE_NOTE, UNREVIEWABLE_NAME, Unreviewable


def is_index(name: str) -> bool:
    return name == "index.md" or name.endswith("-index.md")


class NoteScan(NamedTuple):
    """Reviewable notes, sorted by key, and the notes found that cannot be reviewed."""

    notes: list[KbFile]
    unreviewable: list[Unreviewable]


def note_facts(file: KbFile) -> NoteFacts:
    try:
        return file.facts
    except frontmatter.FrontmatterError as exc:
        raise UserError(f"{shown(file.key)}: {exc}") from None


def scan_notes(config: Config, git: GitState) -> list[KbFile]:
    """Every reviewable note under the scan roots, read once, sorted by key."""
    return find_notes(config, git).notes


def find_notes(config: Config, git: GitState, *, cached: bool = False) -> NoteScan:
    """Every note under the scan roots, read once, sorted by key: those that
    can be reviewed, and those that cannot with the reason.

    With `cached`, notes unchanged since an earlier scan in this clone are not
    read (kb/note_cache.py): their bytes are read on first use, and a note
    changed since the scan is then an error. For read-only commands that need
    blob ids and routing facts only (the selector), never for those that
    review or record notes."""
    found: dict[str, KbFile | Unreviewable] = {}
    kb_root = str(config.kb_root)
    cache = None
    if cached:
        from commonplace.kb.note_cache import NoteCache

        cache = NoteCache.open(git)
    for root in config.scan_roots:
        for key, entry in _walk_entries(config.kb_root, root, config.recursive, config.gates_dir):
            if key in found or git.is_ignored(key):
                continue
            if cache is None:
                note = load_note(kb_root, key)
            else:
                ident = cache.identity(entry)
                hit = cache.get(kb_root, key, ident)
                if hit is True:  # not a note, as the last read found
                    continue
                if isinstance(hit, KbFile):
                    note = hit
                else:
                    note = load_note(kb_root, key)
                    cache.put(key, ident, note)
            if note is not None:
                found[key] = note
    if cache is not None:
        cache.save()
    if not found:
        raise UserError(no_notes_message(config))
    return _split(found[k] for k in sorted(found))


def load_note(kb_root: Path | str, key: str) -> KbFile | Unreviewable | None:
    """The note at `key`, read once; an `Unreviewable` when it is a note that
    cannot be reviewed; None when the file has no frontmatter (not a note).

    Readable means: UTF-8 text without NUL bytes whose frontmatter gives the
    facts routing reads (a mapping). Every later step reads the same facts the
    same way, so a note that passes here cannot fail a batch later."""

    def bad(reason: str, detail: str) -> Unreviewable:
        return Unreviewable("note", key, reason, detail)

    try:
        file = KbFile(key, read_bytes(os.path.join(kb_root, key)))
    except OSError as exc:  # vanished since the scan, a directory, no permission
        return bad(UNREADABLE_NOTE, f"cannot read it: {exc.strerror or exc}")
    if not file.data.startswith((b"---", b"\xef\xbb\xbf---")):
        return None
    problem = why_unreviewable_name(key)
    if problem is not None:
        return bad(UNREVIEWABLE_NAME, problem)
    if b"\0" in file.data:
        return bad(UNREADABLE_NOTE, "it contains NUL bytes: binary data, not text")
    try:
        if file.frontmatter_block is None:
            return None
    except UserError:
        return bad(UNREADABLE_NOTE, "it is not UTF-8 text")
    try:
        _ = file.routing_fields  # read once here; routing reuses them
    except frontmatter.FrontmatterError as exc:
        return bad(UNREADABLE_NOTE, str(exc))
    return file


def _split(found: Iterable[KbFile | Unreviewable]) -> NoteScan:
    scan = NoteScan([], [])
    for item in found:
        if isinstance(item, KbFile):
            scan.notes.append(item)
        else:
            scan.unreviewable.append(item)
    return scan


def no_notes_message(config: Config) -> str:
    """Why a scan found nothing: the scan roots, and which of them are missing.
    An empty scan is a mistake (a wrong scan_roots, the wrong directory), never
    a KB with nothing stale."""
    missing = [r for r in config.scan_roots if not (config.kb_root / r).is_dir()]
    where = ", ".join(config.scan_roots) or "(none)"
    detail = f"; missing: {', '.join(missing)}" if missing else ""
    return (
        f"no reviewable notes under the scan roots of {config.kb_root}: {where}{detail}"
        " (a note is a .md file with YAML frontmatter; set scan_roots in commonplace.toml)"
    )


def _walk(
    kb_root: Path, top: str, recursive: bool = True, gates_dir: str | None = None
) -> Iterator[str]:
    """The candidate note keys under `top`; only its own files when not
    `recursive`. A gate's examples folder under `gates_dir` is never walked:
    examples are no notes, even where a scan root holds the gates folder."""
    for key, _ in _walk_entries(kb_root, top, recursive, gates_dir):
        yield key


def _walk_entries(
    kb_root: Path, top: str, recursive: bool = True, gates_dir: str | None = None
) -> Iterator[tuple[str, os.DirEntry[str]]]:
    """`_walk` with each file's directory entry, whose stat the note cache reads."""
    stack = [top]
    while stack:
        rel = stack.pop()
        try:
            entries = list(os.scandir(kb_root / rel))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            # Links are not followed: git records a link, not what it points at.
            if entry.name.startswith(".") or entry.is_symlink():
                continue
            key = entry.name if rel in ("", ".") else f"{rel}/{entry.name}"
            if entry.is_dir():
                if recursive and entry.name != "types" and not _examples_of(key, gates_dir):
                    stack.append(key)
            elif entry.name.endswith(".md") and not is_index(entry.name) and entry.is_file():
                yield key, entry


def resolve_notes(config: Config, git: GitState, refs: Iterable[str], *, cwd: Path) -> list[KbFile]:
    """Notes named on the command line (files or directories); the notes of a
    directory that cannot be reviewed are left out."""
    return resolve_note_refs(config, git, refs, cwd=cwd).notes


def resolve_note_refs(config: Config, git: GitState, refs: Iterable[str], *, cwd: Path) -> NoteScan:
    """Notes named on the command line (files or directories), each checked like
    a scanned note; duplicates removed, first mention first. A file named that
    cannot be reviewed is an error; in a directory, such notes are reported."""
    found: dict[str, KbFile | Unreviewable] = {}
    for raw in refs:
        key = key_for_path(config.kb_root, raw, cwd=cwd)
        path = config.kb_root / key
        if path.is_dir():
            keys = sorted(
                k
                for k in _walk(config.kb_root, key, config.recursive, config.gates_dir)
                if _why_out_of_scope(config, git, k) is None
            )
            notes = [n for n in (load_note(config.kb_root, k) for k in keys) if n is not None]
            if not notes:
                raise UserError(f"no reviewable notes in {shown(raw)}")
        elif path.is_file():
            note = _named_file(config, git, raw, key)
            if isinstance(note, Unreviewable):
                problem = f"{note.reason}: {note.detail}"
                raise UserError(f"{shown(raw)} is not a reviewable note: {problem}")
            notes = [note]
        else:
            raise UserError(f"note not found: {shown(raw)}{_note_suggestion(config, raw, cwd)}")
        for note in notes:
            found.setdefault(note.key, note)
    return _split(found.values())


def _note_suggestion(config: Config, raw: str, cwd: Path) -> str:
    """The closest notes, written from the working directory when it is inside
    the KB; a name without `.md` may be a mistyped lens or gate
    (`--note a.md proze`), so those are candidates too."""
    from commonplace.kb.suggest import did_you_mean

    try:
        here = cwd.resolve().relative_to(config.kb_root.resolve()).as_posix()
        prefix = "" if here == "." else here + "/"
    except (OSError, ValueError):
        prefix = ""
    try:
        walked = (
            k
            for r in config.scan_roots
            for k in _walk(config.kb_root, r, config.recursive, config.gates_dir)
        )
        names = [k.removeprefix(prefix) for k in walked]
        if not raw.endswith(".md") and config.gates_path.is_dir():
            gates = config.gates_path.iterdir()
            lenses = sorted(p for p in gates if p.is_dir() and not p.name.startswith("."))
            names += [p.name for p in lenses]
            names += [
                f"{p.name}/{g.name[:-3]}"
                for p in lenses
                for g in sorted(p.iterdir())
                if g.name.endswith(".md") and not is_index(g.name) and g.name != "README.md"
            ]
    except OSError:  # an unreadable folder: no suggestion rather than another error
        return ""
    return did_you_mean(raw, names)


def _named_file(config: Config, git: GitState, raw: str, key: str) -> KbFile | Unreviewable:
    """A file named as a note: outside the scan roots or without frontmatter
    is an error; a name or content that cannot be reviewed is returned."""
    problem = _why_out_of_scope(config, git, key)
    note = None if problem else load_note(config.kb_root, key)
    if note is None:
        problem = problem or "it has no YAML frontmatter"
        raise UserError(f"{shown(raw)} is not a reviewable note: {problem}")
    return note


def resolve_named_note(
    config: Config, git: GitState, ref: str, *, cwd: Path, purpose: str
) -> KbFile | Unreviewable:
    """Like `resolve_one_note`, but a note whose name or content cannot be
    reviewed is returned with the reason, for callers that skip it."""
    key = key_for_path(config.kb_root, ref, cwd=cwd)
    if (config.kb_root / key).is_file():
        return _named_file(config, git, ref, key)
    return resolve_one_note(config, git, ref, cwd=cwd, purpose=purpose)


def resolve_one_note(config: Config, git: GitState, ref: str, *, cwd: Path, purpose: str) -> KbFile:
    """The one note `ref` names; `purpose` ends the message when it names
    several (e.g. "a review run covers one note")."""
    files = resolve_notes(config, git, [ref], cwd=cwd)
    if len(files) != 1:
        raise UserError(f"{shown(ref)} names {len(files)} notes; {purpose}")
    return files[0]


def _examples_of(key: str, gates_dir: str | None) -> bool:
    return (
        gates_dir is not None
        and key.startswith(gates_dir.rstrip("/") + "/")
        and in_examples_folder(key + "/x")
    )


def _in_scan_root(config: Config, key: str) -> bool:
    return any(r in ("", ".") or key.startswith(r.rstrip("/") + "/") for r in config.scan_roots)


def why_not_reviewable(config: Config, git: GitState, key: str) -> str | None:
    """Why `key` cannot be a reviewable note whatever the file holds, or None."""
    problem = _why_out_of_scope(config, git, key)
    if problem is None and (name := why_unreviewable_name(key)) is not None:
        problem = f"{UNREVIEWABLE_NAME}: {name}"
    return problem


def _why_out_of_scope(config: Config, git: GitState, key: str) -> str | None:
    if not key.endswith(".md"):
        return "notes are Markdown files ending in .md"
    if not _in_scan_root(config, key):
        return f"it is not under a scan root ({', '.join(config.scan_roots)})"
    if is_index(posixpath.basename(key)):
        return "index files are not reviewed"
    if "types" in key.split("/")[:-1]:
        return "files under types/ folders are not reviewed"
    if _examples_of(posixpath.dirname(key), config.gates_dir):
        return "it is an example of a gate (calibrate reviews it), not a note"
    if any(part.startswith(".") for part in key.split("/")):
        return "hidden files are not reviewed"
    if git.is_ignored(key):
        return "it is ignored by git"
    return None
