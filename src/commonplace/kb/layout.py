"""Where a knowledge base keeps its notes and gates, found by looking (for `init`).

A note is a `.md` file with YAML frontmatter; a gate is one at
`<gates_dir>/<lens>/<name>.md` whose frontmatter has a key only gates carry
(`watches`, `gate_id`, an applicability key). The gates folder is the one
holding most gates; the scan roots are the highest folders that hold notes and
neither hold nor sit in the gates or reports folder. Names found here are
written into commonplace.toml, so any name a pair line could not carry is left
out, and nothing found is ever followed through a link.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from commonplace import frontmatter
from commonplace.config import Config
from commonplace.git import GitState
from commonplace.kb.examples import in_examples_folder
from commonplace.kb.files import read_bytes
from commonplace.kb.notes import is_index
from commonplace.kb.paths import why_unreviewable_name

DEFAULTS = Config(kb_root=Path("."))
GATE_KEYS = frozenset(
    {"watches", "gate_id", "requires_trait", "requires-trait", "requires_type", "requires-type"}
)
# Folders that hold tools' files, never a KB's notes (hidden ones are skipped too).
SKIPPED = frozenset({"node_modules", "__pycache__", "venv", "site-packages"})
NOT_NOTES = frozenset({"readme.md", "collection.md", "changelog.md", "license.md"})
MAX_ENTRIES = 200_000  # a walk this long is not a KB: stop and use what was seen
STORE_FILE = "review-store.sqlite"


@dataclass(frozen=True)
class Layout:
    scan_roots: tuple[str, ...]
    gates_dir: str
    reports_dir: str
    store: str
    notes_found: int  # notes under the scan roots
    gates_found: int  # gate files in the gates folder
    roots_detected: bool  # False: no note was found, the defaults are used
    gates_detected: bool
    # Notes no scan root can take (at the KB root, or beside the gates folder).
    left_out: tuple[str, ...] = ()
    truncated: bool = False  # the walk stopped at MAX_ENTRIES


def detect_layout(kb_root: Path, git: GitState) -> Layout:
    files, truncated = _frontmatter_files(kb_root, git)
    gates = Counter(
        key.rsplit("/", 2)[0]
        for key, keys in files.items()
        if key.count("/") >= 2
        and keys & GATE_KEYS
        and not _skipped_name(key)
        and not in_examples_folder(key)
    )
    gates_detected = bool(gates)
    if gates:
        gates_dir = min(gates, key=lambda d: (-gates[d], d.count("/"), d))
    else:
        gates_dir = DEFAULTS.gates_dir if (kb_root / "kb").is_dir() else "review-gates"
    notes = [
        key
        for key in files
        if not _under(key, gates_dir)
        and "types" not in key.split("/")[:-1]
        and not is_index(key.rsplit("/", 1)[-1])
        and key.rsplit("/", 1)[-1].lower() not in NOT_NOTES
    ]
    reports_dir = _reports_dir(kb_root, notes, gates_dir)
    blocked = (gates_dir, reports_dir)
    roots: set[str] = set()
    left_out: list[str] = []
    counted = 0
    for key in notes:
        if _under(key, reports_dir):
            continue
        root = _scan_root(key, blocked)
        if root is None:
            left_out.append(key)
        else:
            roots.add(root)
            counted += 1
    kept = sorted(r for r in roots if not any(_under(r, o) for o in roots if o != r))
    return Layout(
        scan_roots=tuple(kept) or DEFAULTS.scan_roots,
        gates_dir=gates_dir,
        reports_dir=reports_dir,
        store=f"{reports_dir}/{STORE_FILE}",
        notes_found=counted,
        gates_found=gates[gates_dir] if gates_detected else _count_gates(kb_root, gates_dir),
        roots_detected=bool(kept),
        gates_detected=gates_detected,
        left_out=tuple(sorted(left_out)),
        truncated=truncated,
    )


def _under(key: str, folder: str) -> bool:
    return key == folder or key.startswith(folder + "/")


def _overlaps(a: str, b: str) -> bool:
    return _under(a, b) or _under(b, a)


def _scan_root(key: str, blocked: tuple[str, ...]) -> str | None:
    """The highest folder above `key` that holds no blocked folder."""
    parts = key.split("/")[:-1]
    for depth in range(1, len(parts) + 1):
        candidate = "/".join(parts[:depth])
        if not any(_under(b, candidate) for b in blocked):
            return candidate
    return None


def _reports_dir(kb_root: Path, notes: list[str], gates_dir: str) -> str:
    """The default under `kb/` when the KB has one; else a folder of its own,
    clear of the notes and gates (the store lives there)."""
    if (kb_root / "kb").is_dir() and not _under(gates_dir, DEFAULTS.reports_dir):
        candidates = [DEFAULTS.reports_dir]
    else:
        candidates = []
    for candidate in (*candidates, "reports", "commonplace-reports"):
        clear = not _overlaps(candidate, gates_dir)
        if clear and not any(_under(n, candidate) for n in notes):
            return candidate
    return "commonplace-reports/review"


def _count_gates(kb_root: Path, gates_dir: str) -> int:
    """Gate files already in a folder that was not found by its gates' keys."""
    count = 0
    try:
        with os.scandir(kb_root / gates_dir) as lenses:
            for lens in lenses:
                if lens.is_dir(follow_symlinks=False) and not lens.name.startswith("."):
                    with os.scandir(lens.path) as gates:
                        count += sum(
                            1
                            for g in gates
                            if g.name.endswith(".md") and g.is_file(follow_symlinks=False)
                        )
    except OSError:
        return count
    return count


def _skipped_name(key: str) -> bool:
    return why_unreviewable_name(key) is not None


def _frontmatter_files(kb_root: Path, git: GitState) -> tuple[dict[str, frozenset[str]], bool]:
    """Every `.md` file with frontmatter and a name a pair line can carry, not
    ignored by git: its KB-relative key and its frontmatter keys (none when
    the block is not a mapping: still a note, if one that cannot be reviewed)."""
    found: dict[str, frozenset[str]] = {}
    walked = 0
    for key in _markdown_files(kb_root):
        walked += 1
        if walked > MAX_ENTRIES:
            return found, True
        if _skipped_name(key) or git.is_ignored(key):
            continue
        try:
            data = read_bytes(os.path.join(kb_root, key))
        except OSError:
            continue
        if not data.startswith((b"---", b"\xef\xbb\xbf---")):
            continue
        block, _body = frontmatter.split(data.decode("utf-8", "replace"))
        if block is None:
            continue
        try:
            keys = frozenset(str(k) for k in frontmatter.parse(block))
        except frontmatter.FrontmatterError:
            keys = frozenset()
        found[key] = keys
    return found, False


def _markdown_files(kb_root: Path) -> Iterator[str]:
    stack = [""]
    while stack:
        rel = stack.pop()
        try:
            with os.scandir(kb_root / rel if rel else kb_root) as found:
                entries = sorted(found, key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            # links are not followed: a link may lead out of the KB, or round in a loop
            if entry.name.startswith(".") or entry.name in SKIPPED or entry.is_symlink():
                continue
            key = f"{rel}/{entry.name}" if rel else entry.name
            if entry.is_dir(follow_symlinks=False):
                stack.append(key)
            elif entry.name.endswith(".md") and entry.is_file(follow_symlinks=False):
                yield key
