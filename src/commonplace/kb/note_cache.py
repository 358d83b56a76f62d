"""What the note scan learnt about each file, kept between runs so that the
selector need not read and hash notes that did not change: git's index does
the same for `git status`.

Per note key, the file's stat identity (size, mtime, ctime, inode, device)
when it was read, and what reading it gave: its blob id and routing fields,
or "not a note" (no frontmatter). A file whose identity is unchanged is taken
as unchanged; its bytes are read only if something asks for them, and then
must still have the blob id (`CachedNote`). Notes that cannot be reviewed are
never kept: they are read and reported again each time.

Only the selector's full scan uses it (`find_notes(..., cached=True)`):
commands that review, acknowledge or label notes read every note whole.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import time
from pathlib import Path

from commonplace import local_cache
from commonplace.errors import UserError
from commonplace.git import GitState, blob_sha
from commonplace.kb.facts import NoteFacts, facts_from
from commonplace.kb.files import KbFile, read_bytes
from commonplace.kb.paths import shown
from commonplace.kb.unreviewable import Unreviewable

KIND = "note-scan"
FORMAT = 1
# A file changed in the same tick of the file system's clock as the read
# before it keeps its size and times: git calls this "racy clean". A file
# whose mtime or ctime is this close to the start of the scan (or later) is
# therefore not kept, so it is read again next time. 2 s covers the coarsest
# timestamps in use (FAT's 2 s) and the kernel's coarse clock lagging behind
# `time.time_ns()`. ctime cannot be set by a user, so an edit that restores
# the mtime (`touch -d`, `os.utime`) still changes the identity.
RACY_NS = 2_000_000_000
_MAX_DEPTH = 16  # routing fields nested deeper are read each time, not kept
_SHA = re.compile("[0-9a-f]{40}").fullmatch

Identity = list[int]  # size, mtime_ns, ctime_ns, inode, device: as JSON keeps it
# (identity, blob id, routing fields): blob id and fields None for "not a note"
Entry = tuple[Identity, str | None, dict[str, object] | None]


class CachedNote(KbFile):
    """A note as the cache knows it: key, blob id and routing fields, without
    its bytes. The bytes are read on first use; if they no longer have the
    blob id, the note changed while the command ran, and that is an error
    rather than a result mixing two versions of the note."""

    _root: str

    @classmethod
    def known(
        cls, key: str, kb_root: str, sha: str, fields: dict[str, object], facts: NoteFacts
    ) -> CachedNote:
        note = cls.__new__(cls)
        # One update, no __init__: a scan makes 10,000 of them. sha, fields and
        # facts are filled in as `cached_property` would have; `fields` and
        # `facts` may be shared with other notes, and routing only reads them.
        note.__dict__.update(key=key, _root=kb_root, sha=sha, routing_fields=fields, facts=facts)
        return note

    def _read(self) -> bytes:
        try:
            data = read_bytes(os.path.join(self._root, self.key))
        except OSError:
            data = None
        if data is None or blob_sha(data) != self.sha:
            raise UserError(
                f"{shown(self.key)} changed while the command ran; run the command again"
            )
        return data


class NoteCache:
    """One scan's use of the cache: look up each file walked, record those
    read, save once at the end if anything differs from what was loaded."""

    def __init__(self, folder: Path | None, name: str, payload: object) -> None:
        self.folder, self.name = folder, name
        # Taken before any file is looked at: the racy window is measured from here.
        self.start_ns = time.time_ns()
        self._old: dict[str, object] = {}
        self._fields: list[dict[str, object]] = []
        # (field set, folder) -> facts: notes alike share one (kb/facts.py)
        self._facts: dict[tuple[int, str], NoteFacts] = {}
        if isinstance(payload, dict) and payload.get("format") == FORMAT:
            notes, fields = payload.get("notes"), payload.get("fields")
            if (
                isinstance(notes, dict)
                and isinstance(fields, list)
                and all(isinstance(f, dict) and _plain(f) for f in fields)
            ):
                self._old, self._fields = notes, fields
        self._new: dict[str, Entry] = {}
        self._changed = False

    @classmethod
    def open(cls, git: GitState) -> NoteCache | None:
        """This clone's cache for the KB, or None outside a git repository."""
        folder = local_cache.cache_folder(git)
        if folder is None:
            return None
        # Two KBs in one repository keep apart: keys are relative to the KB.
        name = "notes.json"
        if git.prefix:
            digest = hashlib.sha1(git.prefix.encode(), usedforsecurity=False).hexdigest()
            name = f"notes-{digest[:16]}.json"
        return cls(folder, name, local_cache.load(folder, name, KIND))

    def identity(self, entry: os.DirEntry[str]) -> Identity | None:
        """The stat identity the walk's own entry gives (one lstat, cached by
        the entry), or None when the file cannot be looked at."""
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            return None
        return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]

    def get(self, kb_root: str, key: str, ident: Identity | None) -> KbFile | bool:
        """What the cache knows of `key` with this identity: a `CachedNote`,
        True for "not a note", False when the file must be read. Anything
        malformed is a miss; the identity only has to compare equal, since
        what is saved again is the one just taken."""
        raw = self._old.get(key)
        if ident is None or not isinstance(raw, list) or len(raw) != 7:
            return False
        if raw[:5] != ident:
            return False
        sha, index = raw[5], raw[6]
        if sha is None and index is None:
            self._new[key] = (ident, None, None)
            return True
        if not (
            isinstance(sha, str)
            and _SHA(sha)
            and type(index) is int
            and 0 <= index < len(self._fields)
        ):
            return False
        fields = self._fields[index]
        self._new[key] = (ident, sha, fields)
        shared = (index, key.rpartition("/")[0])
        facts = self._facts.get(shared)
        if facts is None:
            facts = self._facts[shared] = facts_from(fields, key)
        return CachedNote.known(key, kb_root, sha, fields, facts)

    def put(self, key: str, ident: Identity | None, found: KbFile | Unreviewable | None) -> None:
        """Remember what reading `key` gave, if it may be trusted next time."""
        if ident is None or isinstance(found, Unreviewable):
            return
        if max(ident[1], ident[2]) >= self.start_ns - RACY_NS:  # mtime, ctime
            return  # see RACY_NS
        if found is None:
            entry: Entry = (ident, None, None)
        else:
            if not _plain(found.routing_fields):
                return  # a date, a set, a deep structure: JSON would not give it back
            entry = (ident, found.sha, found.routing_fields)
        self._new[key] = entry
        self._changed = True

    def save(self) -> None:
        """Write the entries of this scan, only if they differ from those loaded."""
        if not self._changed and len(self._new) == len(self._old):
            return  # every entry a hit (a subset of the old ones), none dropped
        tables: dict[int, int] = {}  # id(fields) -> index; hits share their dicts
        by_text: dict[str, int] = {}
        fields: list[dict[str, object]] = []
        notes: dict[str, list[object]] = {}
        for key, (ident, sha, found) in self._new.items():
            index = None
            if found is not None:
                index = tables.get(id(found))
                if index is None:
                    text = repr(sorted(found.items()))
                    index = by_text.setdefault(text, len(fields))
                    if index == len(fields):
                        fields.append(found)
                    tables[id(found)] = index
            notes[key] = [*ident, sha, index]
        local_cache.save(
            self.folder, self.name, KIND, {"format": FORMAT, "fields": fields, "notes": notes}
        )


def _plain(value: object, depth: int = 0) -> bool:
    """Whether JSON gives `value` back exactly: strings, finite numbers,
    booleans, None, and lists and string-keyed mappings of them (of exactly
    those types: YAML may give a date, a set, or a list that holds itself)."""
    if depth > _MAX_DEPTH:
        return False
    if value is None or type(value) in (str, bool, int):
        return True
    if isinstance(value, float) and type(value) is float:
        return math.isfinite(value)
    if isinstance(value, list) and type(value) is list:
        return all(_plain(v, depth + 1) for v in value)
    if isinstance(value, dict) and type(value) is dict:
        return all(type(k) is str and _plain(v, depth + 1) for k, v in value.items())
    return False
