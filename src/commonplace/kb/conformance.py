"""Conformance gates: a type spec or a folder's COLLECTION.md used as a gate.

`type/<name>` has `kb/types/<name>.md` as its gate file (else the one
`kb/**/types/<name>.md`) and applies to the notes whose `type:` is that file.
`collection/<folder name>` has `<folder>/COLLECTION.md` under a scan root as
its gate file and applies to the notes whose nearest enclosing folder with a
COLLECTION.md is that folder. The gate's SHA and snapshot are the file's, as
for a catalog gate; the wrapper the prompt shows around it is not hashed.
"""

from __future__ import annotations

import os
import posixpath
import re
from typing import NamedTuple

from commonplace import frontmatter
from commonplace.config import Config
from commonplace.errors import UserError
from commonplace.kb.files import KbFile, read_file
from commonplace.kb.notes import NoteFacts, is_index
from commonplace.kb.paths import shown
from commonplace.kb.suggest import did_you_mean

TYPE = "type"
COLLECTION = "collection"
PSEUDO_LENSES = (TYPE, COLLECTION)
COLLECTION_FILE = "COLLECTION.md"
_TYPES_TOP = "kb"  # type specs live in kb/types/ or some kb/**/types/

_WRAPPER = """\
This gate is a {what}: the {source} `{key}` below. Judge whether the note \
does what it asks of {whom}. PASS when the note does, WARN when it falls short \
in a minor way, FAIL when it clearly does not. Structural checks (frontmatter \
fields, file names, link syntax, schemas) are done by other tools: they are \
not your job here.
{operative}
"""


def is_conformance_id(gate_id: str) -> bool:
    return gate_id.partition("/")[0] in PSEUDO_LENSES and "/" in gate_id


def conformance_ids(config: Config, lens: str) -> list[str]:
    """Every `type/<name>` or `collection/<name>` gate id, sorted."""
    names = _type_specs(config) if lens == TYPE else _collections(config)
    return [f"{lens}/{name}" for name in sorted(names)]


def conformance_pathspecs(config: Config) -> list[str]:
    """Folders holding type specs, for the git status that tells dirty gates."""
    return sorted({posixpath.dirname(k) for ks in _type_specs(config).values() for k in ks})


def gate_file_key(config: Config, gate_id: str) -> str:
    """The file a conformance gate id names; an error when there is none or
    the name is ambiguous."""
    lens, _, name = gate_id.partition("/")
    found = _type_specs(config) if lens == TYPE else _collections(config)
    if lens == TYPE:
        preferred = posixpath.join(_TYPES_TOP, "types", name + ".md")
        if preferred in found.get(name, ()):
            return preferred
    keys = found.get(name, [])
    if not keys:
        others = [f"{lens}/{n}" for n in found]
        raise UserError(f"gate not found: {shown(gate_id)}{did_you_mean(gate_id, others)}")
    if len(keys) > 1:
        raise UserError(f"gate {gate_id} is ambiguous: {', '.join(shown(k) for k in keys)}")
    return keys[0]


def load_conformance_gate(config: Config, gate_id: str) -> tuple[KbFile, str, dict[str, object]]:
    """The gate file, the text the prompt shows, and the parts of the gate
    that route it: `requires_types` for a type, `folder` and `nested` for a
    collection."""
    lens = gate_id.partition("/")[0]
    key = gate_file_key(config, gate_id)
    path = config.kb_root / key
    if path.is_symlink() or not path.resolve().is_relative_to(config.kb_root.resolve()):
        raise UserError(f"gate {gate_id} is a link; conformance gates must be plain files")
    file = read_file(config.kb_root, key)
    if b"\0" in file.data:
        raise UserError(f"gate {gate_id}: it contains NUL bytes: binary data, not text")
    try:
        text = file.text
    except UserError:
        raise UserError(f"gate {gate_id}: it is not UTF-8 text") from None
    if lens == TYPE:
        route: dict[str, object] = {"requires_types": frozenset({key})}
        what, source, whom = "type conformance check", "type spec", "notes of this type"
    else:
        folder = posixpath.dirname(key)
        nested = frozenset(
            posixpath.dirname(k)
            for ks in _collections(config).values()
            for k in ks
            if k.startswith(folder + "/") and k != key
        )
        route = {"folder": folder, "nested": nested}
        what, source = "collection conformance check", "collection description"
        whom = "notes of this collection"
    review = _review_section(text)
    operative = (
        "\nThe spec's `## Review` section is the operative test; the rest of the file is context.\n"
        if review
        else ""
    )
    wrapper = _WRAPPER.format(what=what, source=source, key=key, whom=whom, operative=operative)
    fence = "~" * 4
    while fence in text:
        fence += "~"
    body = f"{wrapper}\n{fence}\n{text.strip(chr(10))}\n{fence}\n"
    return file, body, route


def gate_description(file: KbFile, gate_id: str) -> str:
    """The file's own description, else what the gate checks."""
    try:
        block, _ = frontmatter.split(file.text)
        meta = frontmatter.parse(block) if block is not None else {}
    except (frontmatter.FrontmatterError, UserError):
        meta = {}
    value = meta.get("description", "")
    if isinstance(value, str) and value.strip():
        return value
    what = "type spec" if gate_id.startswith(TYPE + "/") else "collection description"
    return f"Conformance to the {what} {file.key}"


def in_collection(facts: NoteFacts, folder: str, nested: frozenset[str]) -> bool:
    """Whether the note's nearest enclosing collection folder is `folder`."""

    def under(top: str) -> bool:
        return facts.folder == top or facts.folder.startswith(top + "/")

    return under(folder) and not any(under(n) for n in nested)


_REVIEW = re.compile(r"^##[ \t]+Review[ \t]*$", re.MULTILINE)


def _review_section(text: str) -> bool:
    return _REVIEW.search(text) is not None


class ConformanceFiles(NamedTuple):
    """The gate files of the conformance gates, found by one walk of the KB."""

    types: dict[str, list[str]]  # type spec keys by name, from every `types/` folder under kb/
    collections: dict[str, list[str]]  # COLLECTION.md keys by folder name, under the scan roots


def conformance_files(config: Config) -> ConformanceFiles:
    """The type specs and COLLECTION.md files, found once per Config (a
    command has one): listing, resolving and loading the gates, and the git
    status of the specs' folders, would each walk the tree again. Treat as
    read-only."""
    if config.found is None:
        return _find(config)
    kept = config.found.found
    key = (_FOUND, config.kb_root, config.scan_roots, config.recursive, config.gates_dir)
    found = kept.get(key)
    if not isinstance(found, ConformanceFiles):
        found = kept[key] = _find(config)
    return found


_FOUND = "conformance"


def _type_specs(config: Config) -> dict[str, list[str]]:
    return conformance_files(config).types


def _collections(config: Config) -> dict[str, list[str]]:
    return conformance_files(config).collections


class _Folder(NamedTuple):
    rel: str
    specs: tuple[str, ...]  # the type spec file names in a `types/` folder, sorted
    collection: bool  # it holds a COLLECTION.md (a plain file)


def _find(config: Config) -> ConformanceFiles:
    # kb/ and the scan roots, each walked once; a top found in the walk of a
    # top above it (the default scan roots are under kb/) is not walked again.
    walks: dict[str, list[_Folder]] = {}
    tops = {posixpath.normpath(t) for t in (_TYPES_TOP, *config.scan_roots)}
    for top in sorted(tops, key=lambda t: (0 if t == "." else t.count("/") + 1, t)):
        walks[top] = _within(walks, top) or _folders(config, top)
    types: dict[str, list[str]] = {}
    for folder in walks[posixpath.normpath(_TYPES_TOP)]:
        for name in folder.specs:
            types.setdefault(name[:-3], []).append(f"{folder.rel}/{name}")
    collections: dict[str, set[str]] = {}
    for root in config.scan_roots:
        for folder in walks[posixpath.normpath(root)]:
            name = posixpath.basename(folder.rel)
            if name not in ("", ".") and folder.collection:
                collections.setdefault(name, set()).add(f"{folder.rel}/{COLLECTION_FILE}")
    return ConformanceFiles(types, {name: sorted(keys) for name, keys in collections.items()})


def _within(walks: dict[str, list[_Folder]], top: str) -> list[_Folder] | None:
    """`top`'s folders, taken from the walk of a top above it that reached
    it (through no link and no hidden folder, as its own walk would go)."""
    for above, folders in walks.items():
        if above != "." and not top.startswith(above + "/"):
            continue
        if any(f.rel == top for f in folders):
            return [f for f in folders if f.rel == top or f.rel.startswith(top + "/")]
    return None


def _is_spec(entry: os.DirEntry[str]) -> bool:
    name = entry.name
    return (
        name.endswith(".md")
        and not name.startswith(".")
        and not is_index(name)
        and name.lower() != "readme.md"
        and not entry.is_symlink()
        and entry.is_file()
    )


def _folders(config: Config, top: str) -> list[_Folder]:
    """`top` and every folder under it, sorted, links and hidden folders left out."""
    if not (config.kb_root / top).is_dir() or (config.kb_root / top).is_symlink():
        return []
    folders: list[_Folder] = []
    stack = [top]
    while stack:
        rel = stack.pop()
        try:
            entries = list(os.scandir(config.kb_root / rel))
        except OSError:
            entries = []
        collection = False
        for entry in entries:
            name = entry.name
            if name == COLLECTION_FILE and entry.is_file(follow_symlinks=False):
                collection = True
            elif entry.is_dir(follow_symlinks=False) and not name.startswith("."):
                stack.append(name if rel in ("", ".") else f"{rel}/{name}")
        is_types = posixpath.basename(rel) == "types"
        specs = tuple(sorted(e.name for e in entries if _is_spec(e))) if is_types else ()
        folders.append(_Folder(rel, specs, collection))
    return sorted(folders, key=lambda f: f.rel)
