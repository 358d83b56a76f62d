"""Gates and lenses: resolving references, reading gate files, applicability."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from commonplace import frontmatter
from commonplace.config import Config
from commonplace.errors import UserError
from commonplace.kb.conformance import (
    PSEUDO_LENSES,
    conformance_ids,
    gate_description,
    in_collection,
    is_conformance_id,
    load_conformance_gate,
)
from commonplace.kb.examples import names_examples
from commonplace.kb.files import KbFile, read_file
from commonplace.kb.note_parts import WATCHABLE
from commonplace.kb.notes import NoteFacts, is_index, normalize_type
from commonplace.kb.paths import canonical_ref, shown, why_unreviewable_name
from commonplace.kb.suggest import did_you_mean
from commonplace.kb.unreviewable import UNREVIEWABLE_NAME, UNUSABLE_GATE, Unreviewable


@dataclass(frozen=True)
class Gate:
    id: str
    file: KbFile
    description: str
    body: str
    watches: tuple[str, ...]
    requires_traits: frozenset[str] | None
    requires_types: frozenset[str] | None
    # A collection conformance gate: the collection's folder, and the folders
    # under it that have a COLLECTION.md of their own (their notes are theirs).
    folder: str | None = None
    nested: frozenset[str] = frozenset()

    @property
    def key(self) -> str:
        return self.file.key

    @property
    def sha(self) -> str:
        return self.file.sha

    @property
    def lens(self) -> str:
        return self.id.rsplit("/", 1)[0]

    @property
    def routed(self) -> bool:
        """Whether the gate applies to some notes only."""
        return (
            self.requires_traits is not None
            or self.requires_types is not None
            or (self.folder is not None)
        )

    def applies_to(self, facts: NoteFacts) -> bool:
        if self.folder is not None and not in_collection(facts, self.folder, self.nested):
            return False
        if self.requires_traits is not None and not (self.requires_traits & facts.traits):
            return False
        return self.requires_types is None or facts.type in self.requires_types

    def skip_reason(self, facts: NoteFacts) -> str:
        """Why the gate does not apply (call only when it does not)."""
        if self.folder is not None and not in_collection(facts, self.folder, self.nested):
            return f"not a note of the collection {self.folder}"
        if self.requires_traits is not None and not (self.requires_traits & facts.traits):
            return "requires trait " + " or ".join(sorted(self.requires_traits))
        return "requires type " + " or ".join(sorted(self.requires_types or ()))


def list_lenses(config: Config) -> list[str]:
    root = config.gates_path
    if not root.is_dir():
        raise UserError(f"gates directory not found: {config.gates_dir}")
    lenses = sorted(
        p.name
        for p in root.iterdir()
        if p.is_dir() and not p.name.startswith(".") and _inside(config, p)
    )
    _refuse_pseudo_lens(config, lenses)
    return lenses


def _refuse_pseudo_lens(config: Config, lenses: Iterable[str]) -> None:
    """`type` and `collection` name the conformance gates; a catalog lens of
    that name would make `type/x` mean two gates."""
    clash = [lens for lens in lenses if lens in PSEUDO_LENSES]
    if clash:
        raise UserError(
            f"lens {clash[0]} in {config.gates_dir} clashes with the {clash[0]} conformance"
            f" gates ({clash[0]}/<name>); rename that folder"
        )


def lens_gate_ids(config: Config, lens: str) -> list[str]:
    folder = config.gates_path / lens
    return [
        f"{lens}/{p.name[:-3]}"
        for p in sorted(folder.iterdir())
        if p.name.endswith(".md")
        and p.is_file()
        and not _is_gate_doc(p.name)
        and _inside(config, p)
    ]


def _inside(config: Config, path: Path) -> bool:
    """Whether a path, links followed, stays inside the KB: a gate linked
    from elsewhere would put text from outside into prompts and snapshots."""
    return path.resolve().is_relative_to(config.kb_root.resolve())


def resolve_gate_ids(config: Config, refs: Iterable[str], *, cwd: Path | None = None) -> list[str]:
    """Expand gate ids and lens names into gate ids, in order, without repeats."""
    ids: dict[str, None] = {}
    for raw in refs:
        ref = _ref_from_path(config, raw, cwd) or canonical_ref(raw)
        if ref is None:
            raise UserError(f"gate not found: {raw} (gate ids look like <lens>/<name>)")
        if names_examples(ref):
            raise UserError(f"{shown(raw)} is in a gate's examples folder: examples are no gates")
        path = config.gates_path / ref
        lens = ref.partition("/")[0]
        if lens in PSEUDO_LENSES:
            _refuse_pseudo_lens(config, [lens] if (config.gates_path / lens).is_dir() else [])
        if ref in PSEUDO_LENSES:
            found = conformance_ids(config, ref)
            if not found:
                what = "type specs (kb/types/)" if ref == "type" else "COLLECTION.md files"
                raise UserError(f"no {ref} conformance gates: the knowledge base has no {what}")
            ids.update(dict.fromkeys(found))
        elif is_conformance_id(ref):
            ids[load_gate(config, ref).id] = None
        elif path.is_dir():
            found = lens_gate_ids(config, ref)
            if not found:
                raise UserError(f"lens {ref} has no gates")
            ids.update(dict.fromkeys(found))
        elif (
            "/" in ref
            and path.with_name(path.name + ".md").is_file()
            and not _is_gate_doc(path.name + ".md")
        ):
            ids[ref] = None
        else:
            raise gate_not_found(config, raw)
    if not ids:
        raise UserError("no gates named")
    return list(ids)


def is_lens(config: Config, ref: str) -> bool:
    canonical = canonical_ref(ref)
    return canonical is not None and (
        canonical in PSEUDO_LENSES or (config.gates_path / canonical).is_dir()
    )


def all_gate_ids(config: Config) -> list[str]:
    """Every catalog gate (the gates of every lens folder), without the type
    and collection gates that `every_gate_ids` adds."""
    return [g for lens in list_lenses(config) for g in lens_gate_ids(config, lens)]


def every_gate_ids(config: Config) -> list[str]:
    """Every catalog gate, then every type and collection gate: the scope
    wherever no gate is named (`--all-gates`, sweeps, trivial acks, reports)."""
    conformance = [g for lens in PSEUDO_LENSES for g in conformance_ids(config, lens)]
    return all_gate_ids(config) + conformance


def gate_not_found(config: Config, raw: str) -> UserError:
    """`gate not found`, with the closest gate ids of the KB, and lenses when
    no lens was named (`prose/zzz` is no typo of the lens `prose`)."""
    try:
        names = every_gate_ids(config) + ([] if "/" in raw else list_lenses(config))
    except (UserError, OSError):  # the KB's own problem is reported elsewhere
        names = []
    return UserError(f"gate not found: {shown(raw)}{did_you_mean(raw, names)}")


def load_gate(config: Config, gate_id: str) -> Gate:
    if is_conformance_id(gate_id) and canonical_ref(gate_id) == gate_id:
        return _load_conformance(config, gate_id)
    key = posixpath.join(config.gates_dir, gate_id + ".md")
    if (
        canonical_ref(gate_id) != gate_id
        or names_examples(gate_id)
        or _is_gate_doc(posixpath.basename(key))
        or not (config.kb_root / key).is_file()
    ):
        raise gate_not_found(config, gate_id)
    name_problem = why_unreviewable_name(gate_id)
    if name_problem is not None:
        raise UserError(f"gate id {shown(gate_id)} cannot be named in a pair block: {name_problem}")
    if not _inside(config, config.kb_root / key):
        raise UserError(f"gate {gate_id} is a link to a file outside the knowledge base")
    file = read_file(config.kb_root, key)
    if b"\0" in file.data:
        raise UserError(f"gate {gate_id}: it contains NUL bytes: binary data, not text")
    block, body = frontmatter.split(file.text)
    try:
        meta = frontmatter.parse(block) if block is not None else {}
    except frontmatter.FrontmatterError as exc:
        raise UserError(f"gate {gate_id}: {exc}") from None
    _check_applicability_keys(meta, gate_id)
    watches = meta.get("watches", ["body"])
    if isinstance(watches, str):
        watches = [watches]
    if not isinstance(watches, list) or not watches or not all(w in WATCHABLE for w in watches):
        raise UserError(f"gate {gate_id}: watches must list some of {', '.join(WATCHABLE)}")
    description = meta.get("description", "")
    return Gate(
        id=gate_id,
        file=file,
        description=description if isinstance(description, str) else "",
        body=body.lstrip("\n"),
        watches=tuple(watches),
        requires_traits=_applicability(meta, "trait", gate_id, None),
        requires_types=_applicability(meta, "type", gate_id, key),
    )


def _load_conformance(config: Config, gate_id: str) -> Gate:
    name_problem = why_unreviewable_name(gate_id)
    if name_problem is not None:
        raise UserError(f"gate id {shown(gate_id)} cannot be named in a pair block: {name_problem}")
    file, body, route = load_conformance_gate(config, gate_id)
    types = route.get("requires_types")
    folder = route.get("folder")
    nested = route.get("nested")
    return Gate(
        id=gate_id,
        file=file,
        description=gate_description(file, gate_id),
        body=body,
        watches=WATCHABLE,  # conformance is about the whole note
        requires_traits=None,
        requires_types=types if isinstance(types, frozenset) else None,
        folder=folder if isinstance(folder, str) else None,
        nested=nested if isinstance(nested, frozenset) else frozenset(),
    )


def load_gates(config: Config, gate_ids: Iterable[str]) -> list[Gate]:
    return [load_gate(config, g) for g in gate_ids]


class GateScan(NamedTuple):
    gates: list[Gate]
    unusable: list[Unreviewable]


def load_found_gates(config: Config, gate_ids: Iterable[str]) -> GateScan:
    """Gates found by listing lenses: one that cannot be used is reported with
    the reason instead of stopping the others."""
    scan = GateScan([], [])
    for gate_id in gate_ids:
        name_problem = why_unreviewable_name(gate_id)
        if name_problem is not None:
            scan.unusable.append(Unreviewable("gate", gate_id, UNREVIEWABLE_NAME, name_problem))
            continue
        try:
            scan.gates.append(load_gate(config, gate_id))
        except UserError as exc:
            detail = exc.message.removeprefix(f"gate {gate_id}: ")
            scan.unusable.append(Unreviewable("gate", gate_id, UNUSABLE_GATE, detail))
    return scan


def load_gate_refs(config: Config, refs: Iterable[str], *, cwd: Path | None = None) -> GateScan:
    """The gates of gate ids and lenses, in order: a gate named by itself that
    cannot be used is an error; one found in a lens is reported."""
    named: dict[str, bool] = {}  # every gate id in order: named by itself, or found in a lens
    for ref in refs:
        by_itself = not is_lens(config, ref)
        for gate_id in resolve_gate_ids(config, [ref], cwd=cwd):
            named[gate_id] = named.get(gate_id, False) or by_itself
    loaded = {g.id: g for g in load_gates(config, [g for g, n in named.items() if n])}
    scan = load_found_gates(config, [g for g, n in named.items() if not n])
    loaded.update((g.id, g) for g in scan.gates)
    return GateScan([loaded[g] for g in named if g in loaded], scan.unusable)


# Both spellings of each key are read: KBs in the wild write either.
APPLICABILITY_KEYS = {
    "trait": ("requires_trait", "requires-trait"),
    "type": ("requires_type", "requires-type"),
}
_KNOWN_KEYS = frozenset(k for pair in APPLICABILITY_KEYS.values() for k in pair)
# A key that reads like an applicability key but is none of the known ones
# (`requires_types`, `applies-to`) would otherwise be ignored, and the gate
# would apply to every note: each pair a paid review nobody wanted.
_LOOKS_APPLICABLE = re.compile(r"requires|require[_-]|applies|apply[_-]|applicab", re.IGNORECASE)


def _check_applicability_keys(keys: Iterable[object], gate_id: str) -> None:
    for key in keys:
        name = str(key)
        if name not in _KNOWN_KEYS and _LOOKS_APPLICABLE.match(name.strip()):
            known = ", ".join(sorted(_KNOWN_KEYS))
            raise UserError(
                f"gate {gate_id}: unknown applicability key {name[:80]!r} (known: {known});"
                " a gate whose applicability key is not read would apply to every note"
            )


def _applicability(
    meta: dict[str, object], kind: str, gate_id: str, type_owner: str | None
) -> frozenset[str] | None:
    """The gate's `requires_<kind>` under either spelling; both spellings are
    allowed only when they say the same thing."""
    found = {
        name: _requirement(meta, name, gate_id, type_owner)
        for name in APPLICABILITY_KEYS[kind]
        if name in meta
    }
    if len(set(found.values())) > 1:
        raise UserError(
            f"gate {gate_id}: {' and '.join(found)} are both given and differ; keep one"
        )
    return next(iter(found.values()), None)


def _requirement(
    meta: dict[str, object], name: str, gate_id: str, type_owner: str | None
) -> frozenset[str] | None:
    value = meta.get(name)
    if value is None or value == "" or value == []:
        return None
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise UserError(f"gate {gate_id}: {name} must be a string or a list of strings")
    if type_owner is not None:
        values = [normalize_type(v, type_owner) for v in values]
    return frozenset(values)


def _is_gate_doc(name: str) -> bool:
    return is_index(name) or name.lower() == "readme.md"


def _ref_from_path(config: Config, raw: str, cwd: Path | None) -> str | None:
    """Accept a path to a gate file (`kb/instructions/review-gates/prose/x.md`)."""
    if not raw.endswith(".md"):
        return None
    for base in (cwd, config.kb_root):
        if base is None:
            continue
        path = (base / raw).resolve()
        try:
            rel = path.relative_to(config.gates_path.resolve()).as_posix()
        except ValueError:
            continue
        if path.is_file() and not _is_gate_doc(path.name):
            return rel[:-3]
    return None
