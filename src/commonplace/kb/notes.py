"""Notes: which files are reviewable, and the frontmatter facts review needs."""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from commonplace import frontmatter
from commonplace.config import Config
from commonplace.errors import UserError
from commonplace.git import GitState
from commonplace.kb.files import KbFile, read_file
from commonplace.kb.paths import key_for_path

_FACT_KEYS = frozenset({"type", "traits", "status"})


@dataclass(frozen=True)
class NoteFacts:
    """What routing needs from a note's frontmatter; type paths normalized."""

    type: str | None
    traits: frozenset[str]
    status: str | None


def is_index(name: str) -> bool:
    return name == "index.md" or name.endswith("-index.md")


def note_facts(file: KbFile) -> NoteFacts:
    block = file.frontmatter_block
    if block is None:
        return NoteFacts(None, frozenset(), None)
    try:
        fields = frontmatter.read_fields(block, _FACT_KEYS)
    except frontmatter.FrontmatterError as exc:
        raise UserError(f"{file.key}: {exc}") from None
    raw_type = fields.get("type")
    traits = fields.get("traits")
    status = fields.get("status")
    return NoteFacts(
        type=normalize_type(raw_type, file.key) if isinstance(raw_type, str) else None,
        traits=frozenset(t for t in traits if isinstance(t, str))
        if isinstance(traits, list)
        else frozenset(),
        status=status if isinstance(status, str) else None,
    )


def normalize_type(value: str, owner_key: str) -> str:
    """`./types/x.md` in `kb/notes/a.md` means `kb/notes/types/x.md`; a type path
    written from the KB root stays as it is."""
    value = value.strip()
    if value.startswith(("./", "../")):
        value = posixpath.join(posixpath.dirname(owner_key), value)
    return posixpath.normpath(value)


def scan_notes(config: Config, git: GitState) -> list[KbFile]:
    """Every reviewable note under the scan roots, read once, sorted by key."""
    found: dict[str, KbFile] = {}
    kb_root = str(config.kb_root)
    for root in config.scan_roots:
        for key in _walk(config.kb_root, root):
            if key in found or git.is_ignored(key):
                continue
            file = read_file(kb_root, key)
            if file.frontmatter_block is not None:
                found[key] = file
    if not found:
        raise UserError(no_notes_message(config))
    return [found[k] for k in sorted(found)]


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


def _walk(kb_root: Path, top: str) -> Iterator[str]:
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
                if entry.name != "types":
                    stack.append(key)
            elif entry.name.endswith(".md") and not is_index(entry.name) and entry.is_file():
                yield key


def resolve_notes(config: Config, git: GitState, refs: Iterable[str], *, cwd: Path) -> list[KbFile]:
    """Notes named on the command line (files or directories), each checked like
    a scanned note; duplicates removed, first mention first."""
    found: dict[str, KbFile] = {}
    for raw in refs:
        key = key_for_path(config.kb_root, raw, cwd=cwd)
        path = config.kb_root / key
        if path.is_dir():
            keys = sorted(
                k for k in _walk(config.kb_root, key) if why_not_reviewable(config, git, k) is None
            )
            files = [
                f
                for f in (read_file(config.kb_root, k) for k in keys)
                if f.frontmatter_block is not None
            ]
            if not files:
                raise UserError(f"no reviewable notes in {raw}")
        elif path.is_file():
            problem = why_not_reviewable(config, git, key)
            file = read_file(config.kb_root, key)
            if problem is None and file.frontmatter_block is None:
                problem = "it has no YAML frontmatter"
            if problem:
                raise UserError(f"{raw} is not a reviewable note: {problem}")
            files = [file]
        else:
            raise UserError(f"note not found: {raw}")
        for file in files:
            found.setdefault(file.key, file)
    return list(found.values())


def resolve_one_note(config: Config, git: GitState, ref: str, *, cwd: Path, purpose: str) -> KbFile:
    """The one note `ref` names; `purpose` ends the message when it names
    several (e.g. "a review run covers one note")."""
    files = resolve_notes(config, git, [ref], cwd=cwd)
    if len(files) != 1:
        raise UserError(f"{ref} names {len(files)} notes; {purpose}")
    return files[0]


def _in_scan_root(config: Config, key: str) -> bool:
    return any(r in ("", ".") or key.startswith(r.rstrip("/") + "/") for r in config.scan_roots)


def why_not_reviewable(config: Config, git: GitState, key: str) -> str | None:
    if not key.endswith(".md"):
        return "notes are Markdown files ending in .md"
    if not _in_scan_root(config, key):
        return f"it is not under a scan root ({', '.join(config.scan_roots)})"
    if is_index(posixpath.basename(key)):
        return "index files are not reviewed"
    if "types" in key.split("/")[:-1]:
        return "files under types/ folders are not reviewed"
    if any(part.startswith(".") for part in key.split("/")):
        return "hidden files are not reviewed"
    if git.is_ignored(key):
        return "it is ignored by git"
    return None
