"""Doctor's checks of the KB itself: scan roots, the gates folder, gates
that cannot be used, applicability both ways, and dirty gates. One pass
over the notes and two git calls, whatever the size of the KB."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

from commonplace.config import Config
from commonplace.errors import UserError
from commonplace.git import GitState, read_state
from commonplace.kb.conformance import (
    PSEUDO_LENSES,
    conformance_ids,
    conformance_pathspecs,
    is_conformance_id,
)
from commonplace.kb.files import KbFile
from commonplace.kb.gates import Gate, all_gate_ids, load_found_gates
from commonplace.kb.notes import find_notes, no_notes_message, note_facts
from commonplace.kb.paths import shown
from commonplace.services.doctor.findings import OK, PROBLEM, WARNING, Finding
from commonplace.services.doctor.gate_keys import misspelled_keys

SHOWN = 10  # names listed in one finding; the rest are counted


def check_kb(config: Config) -> list[Finding]:
    findings: list[Finding] = []
    try:
        specs = [*config.scan_roots, config.gates_dir, *conformance_pathspecs(config)]
        git = read_state(config.kb_root, specs)
    except UserError as exc:
        return [Finding("git", PROBLEM, exc.message, "check that git works in the KB")]
    findings += _git(git)
    notes = _notes(config, git, findings)
    gates = _gates(config, findings)
    findings += _applicability(notes, gates)
    findings += _dirty(git, gates)
    return findings


def _git(git: GitState) -> list[Finding]:
    if not git.is_repo:
        return [
            Finding(
                "git",
                PROBLEM,
                "the knowledge base is not in a git repository: reviews are keyed by committed"
                " versions, so none can be accepted",
                "git init && git add -A && git commit -m 'knowledge base'",
            )
        ]
    if git.head is None:
        return [
            Finding(
                "git",
                PROBLEM,
                "the git repository has no commit yet: no review can be accepted",
                "commit the notes and gates: git add -A && git commit",
            )
        ]
    return []


def _notes(config: Config, git: GitState, findings: list[Finding]) -> list[KbFile]:
    try:
        scan = find_notes(config, git)
        notes, unreviewable = scan.notes, scan.unreviewable
    except UserError:
        notes, unreviewable = [], []
    default = config.scan_roots == Config(kb_root=config.kb_root).scan_roots
    for root in config.scan_roots:
        path = config.kb_root / root
        count = sum(1 for n in notes if _under(n.key, root))
        if path.is_dir() and count:
            continue
        what = "does not exist" if not path.is_dir() else "holds no notes"
        if default and notes:
            message = f"default scan root {shown(root)} {what} (fine if you keep no notes there)"
            findings.append(Finding("scan-roots", OK, message))
            continue
        findings.append(
            Finding(
                "scan-roots",
                PROBLEM,
                f"scan root {shown(root)} {what}",
                "correct or remove it in scan_roots of commonplace.toml (a note is a .md file"
                " with YAML frontmatter)",
            )
        )
    if not notes:
        findings.append(Finding("scan-roots", PROBLEM, no_notes_message(config), "set scan_roots"))
    else:
        findings.append(Finding("scan-roots", OK, f"{len(notes)} reviewable notes"))
    if unreviewable:
        listed = "; ".join(f"{shown(u.key)} ({u.reason}: {u.detail})" for u in unreviewable[:SHOWN])
        findings.append(
            Finding(
                "notes",
                WARNING,
                f"{len(unreviewable)} note(s) cannot be reviewed: {listed}{_more(unreviewable)}",
                "rename or repair them; until then every command skips them",
            )
        )
    return notes


def _under(key: str, root: str) -> bool:
    return root in ("", ".") or key.startswith(root.rstrip("/") + "/")


def _gates(config: Config, findings: list[Finding]) -> list[Gate]:
    """Every gate that can be used; a gate that cannot is a finding."""
    try:
        conformance = [g for lens in PSEUDO_LENSES for g in conformance_ids(config, lens)]
    except (UserError, OSError) as exc:
        findings.append(Finding("gates", PROBLEM, f"cannot list type and collection gates: {exc}"))
        conformance = []
    catalog = _catalog_ids(config, findings, bool(conformance))
    scan = load_found_gates(config, [*catalog, *conformance])
    for unusable in scan.unusable:
        keys = (
            []
            if is_conformance_id(unusable.key)
            else misspelled_keys(config, unusable.key, unusable.detail)
        )
        findings += keys or [
            Finding(
                "gates",
                PROBLEM,
                f"gate {shown(unusable.key)} cannot be used: {unusable.reason}: {unusable.detail}",
                "correct the gate file; until then lenses and sweeps leave it out",
            )
        ]
    for gate in scan.gates:
        if not is_conformance_id(gate.id):
            findings += misspelled_keys(config, gate.id, None)
    if scan.gates:
        findings.append(Finding("gates", OK, f"{len(scan.gates)} usable gates"))
    return scan.gates


def _catalog_ids(config: Config, findings: list[Finding], others: bool) -> list[str]:
    """The catalog gate ids; a missing, empty or outside gates folder is a
    finding (a problem unless type or collection gates are there)."""
    where = shown(config.gates_dir)
    severity = WARNING if others else PROBLEM
    fix = "create it with one folder per lens of <name>.md gates, or set gates_dir"
    path = config.gates_path
    if not path.is_dir():
        findings.append(Finding("gates", severity, f"gates folder {where} does not exist", fix))
        return []
    if not path.resolve().is_relative_to(config.kb_root.resolve()):
        findings.append(
            Finding(
                "gates",
                PROBLEM,
                f"gates folder {where} is a link to {shown(str(path.resolve()))}, outside the"
                " knowledge base: its gates are never used",
                "keep the gates inside the knowledge base (copy them in, or use a submodule)",
            )
        )
        return []
    findings += _links_out(config, path)
    try:
        ids = all_gate_ids(config)
    except UserError as exc:
        findings.append(Finding("gates", PROBLEM, exc.message, "rename that lens folder"))
        return []
    if not ids:
        findings.append(Finding("gates", severity, f"gates folder {where} holds no gates", fix))
    return ids


def _links_out(config: Config, gates: Path) -> list[Finding]:
    """Lens folders and gate files that are links out of the KB: the gate
    listing leaves them out without a word."""
    inside = config.kb_root.resolve()
    found = []
    try:
        entries = [p for d in (gates, *_dirs(gates)) for p in d.iterdir()]
    except OSError:
        return []
    for entry in entries:
        if entry.is_symlink() and not entry.resolve().is_relative_to(inside):
            key = entry.relative_to(config.kb_root).as_posix()
            found.append(
                Finding(
                    "gates",
                    WARNING,
                    f"{shown(key)} is a link outside the knowledge base: it is left out",
                    "replace the link with the file or folder itself",
                )
            )
    return found


def _dirs(path: Path) -> list[Path]:
    try:
        return [p for p in path.iterdir() if p.is_dir() and not p.is_symlink()]
    except OSError:
        return []


def _applicability(notes: list[KbFile], gates: list[Gate]) -> list[Finding]:
    """Gates that apply to no note, and notes no gate applies to."""
    if not notes or not gates:
        return []
    facts = []
    for note in notes:
        try:
            facts.append((note.key, note_facts(note)))
        except UserError:
            continue  # reported as unreviewable already
    covered: set[str] = set()
    findings = []
    for gate in gates:
        hits = {key for key, fact in facts if gate.applies_to(fact)}
        covered |= hits
        if hits or not facts:
            continue
        why = gate.skip_reason(facts[0][1]) if gate.routed else ""
        if is_conformance_id(gate.id):
            findings.append(Finding("applicability", OK, f"gate {gate.id} applies to no note yet"))
            continue
        findings.append(
            Finding(
                "applicability",
                PROBLEM,
                f"gate {gate.id} applies to no note ({why})",
                "correct its requires_trait / requires_type, or the traits and type of the"
                " notes it is meant for",
            )
        )
    bare = [key for key, _ in facts if key not in covered]
    if bare:
        listed = ", ".join(shown(k) for k in bare[:SHOWN])
        findings.append(
            Finding(
                "applicability",
                PROBLEM,
                f"{len(bare)} note(s) have no gate that applies to them: {listed}{_more(bare)}",
                "add a gate without applicability keys, or give the notes the traits or"
                " type a gate requires",
            )
        )
    return findings


def _dirty(git: GitState, gates: list[Gate]) -> list[Finding]:
    if not git.is_repo or git.head is None:
        return []
    dirty = sorted((g.id, g.key) for g in gates if git.is_dirty(g.key))
    if not dirty:
        return []
    listed = ", ".join(gate_id for gate_id, _ in dirty[:SHOWN])
    keys = " ".join(shlex.quote(shown(key)) for _, key in dirty[:SHOWN])
    return [
        Finding(
            "dirty-gates",
            PROBLEM,
            f"{len(dirty)} gate(s) have uncommitted changes: {listed}{_more(dirty)}; their pairs"
            " are gate-dirty and no review of them can be accepted",
            f"commit them first: git add {keys} && git commit",
        )
    ]


def _more(items: Sequence[object]) -> str:
    return f" and {len(items) - SHOWN} more" if len(items) > SHOWN else ""
