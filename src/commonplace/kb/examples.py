"""Labelled examples of a gate (issue 18): `<gates folder>/<lens>/<gate>.examples/<name>.md`.

Each example is a note with one extra frontmatter key, `expected: pass|warn|fail`,
and optionally `why:`. Examples live under the gates folder in folders whose
name ends in `.examples`: never notes, never gates. A bad example file is
reported with the reason, never a crash."""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass, field

from commonplace import frontmatter
from commonplace.config import Config
from commonplace.kb.files import KbFile, read_bytes
from commonplace.kb.paths import shown, why_unreviewable_name

SUFFIX = ".examples"
EXPECTED = ("pass", "warn", "fail")


def is_examples_folder(name: str) -> bool:
    return name.endswith(SUFFIX) and name != SUFFIX


def in_examples_folder(key: str) -> bool:
    """Whether a KB-relative path lies in a `*.examples` folder: such files
    are examples of a gate, whatever else their path says."""
    return any(is_examples_folder(part) for part in key.split("/")[:-1])


def names_examples(ref: str) -> bool:
    """Whether a gate reference points into an examples folder."""
    return any(is_examples_folder(part) for part in ref.split("/"))


def examples_key(config: Config, gate_id: str) -> str:
    return posixpath.join(config.gates_dir, gate_id + SUFFIX)


@dataclass(frozen=True)
class Example:
    file: KbFile
    gate_id: str
    expected: str
    why: str | None


@dataclass
class ExampleScan:
    examples: list[Example] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # "path: why", one per bad file


def load_examples(config: Config, gate_id: str) -> ExampleScan:
    """The examples of one catalog gate, sorted by path; bad files reported."""
    scan = ExampleScan()
    folder = examples_key(config, gate_id)
    path = config.kb_root / folder
    if path.is_symlink():
        scan.problems.append(f"{shown(folder)}: a link; examples must be files of the KB")
        return scan
    if not path.is_dir():
        return scan
    if not path.resolve().is_relative_to(config.kb_root.resolve()):
        scan.problems.append(f"{shown(folder)}: outside the knowledge base")
        return scan
    try:
        entries = sorted(os.scandir(path), key=lambda e: e.name)
    except OSError as exc:
        scan.problems.append(f"{shown(folder)}: cannot list it: {exc.strerror or exc}")
        return scan
    for entry in entries:
        if entry.name.startswith(".") or not entry.name.endswith(".md"):
            continue
        key = f"{folder}/{entry.name}"
        found = _load_one(config, key, gate_id, entry.is_symlink(), entry.is_file())
        if isinstance(found, str):
            scan.problems.append(f"{shown(key)}: {found}")
        else:
            scan.examples.append(found)
    return scan


def _load_one(config: Config, key: str, gate_id: str, link: bool, regular: bool) -> Example | str:
    if link:
        return "a link; examples must be files of the KB"
    if not regular:
        return "not a regular file"
    problem = why_unreviewable_name(key)
    if problem is not None:
        return problem
    try:
        file = KbFile(key, read_bytes(str(config.kb_root / key)))
    except OSError as exc:
        return f"cannot read it: {exc.strerror or exc}"
    if b"\0" in file.data:
        return "it contains NUL bytes: binary data, not text"
    try:
        block, _ = frontmatter.split(file.data.decode("utf-8"))
    except UnicodeDecodeError:
        return "it is not UTF-8 text"
    if block is None:
        return "no frontmatter: an example needs `expected: pass|warn|fail`"
    try:
        meta = frontmatter.parse(block)
        _ = file.routing_fields
    except frontmatter.FrontmatterError as exc:
        return str(exc)
    expected = meta.get("expected")
    if not isinstance(expected, str) or expected.strip().lower() not in EXPECTED:
        found = "missing" if expected is None else shown(str(expected)[:40])
        return f"expected must be one of {', '.join(EXPECTED)} ({found})"
    why = meta.get("why")
    return Example(file, gate_id, expected.strip().lower(), why if isinstance(why, str) else None)
