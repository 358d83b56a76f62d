"""Misspelled applicability keys in gate frontmatter: `requires_trais`,
`require_type`, `applies-to`, `reqires-type`. One the gate loader already
refuses makes the gate unusable; one it cannot tell from an unrelated key
(`reqires_type`) is not read at all, and the gate applies to every note:
each pair a paid review nobody asked for. Doctor names the key meant."""

from __future__ import annotations

import posixpath

from commonplace import frontmatter
from commonplace.config import Config
from commonplace.errors import UserError
from commonplace.kb.files import read_file
from commonplace.kb.gates import APPLICABILITY_KEYS
from commonplace.services.doctor.findings import PROBLEM, Finding, did_you_mean

CHECK = "gate-keys"
APPLICABILITY = frozenset(k for pair in APPLICABILITY_KEYS.values() for k in pair)
# The other keys a gate's frontmatter is read for.
GATE_KEYS = APPLICABILITY | {"description", "watches"}
# How close an unrelated-looking key must be to an applicability key to be
# called a misspelling of it (a key the loader refuses needs no such bar).
_CLOSE = 0.8


def misspelled_keys(config: Config, gate_id: str, refused: str | None) -> list[Finding]:
    """The applicability keys of the catalog gate `gate_id` that are not
    read; `refused` is why the loader could not use the gate, if it could not."""
    try:
        file = read_file(config.kb_root, posixpath.join(config.gates_dir, gate_id + ".md"))
        block, _ = frontmatter.split(file.text)
        meta = frontmatter.parse(block) if block is not None else {}
    except (UserError, frontmatter.FrontmatterError):
        return []  # unreadable: the loader's own reason is reported instead
    found = []
    for key in meta:
        name = str(key)
        if name in GATE_KEYS:
            continue
        shown_key = name[:80]
        caught = refused is not None and f"unknown applicability key {shown_key!r}" in refused
        guess = did_you_mean(_plain(name), APPLICABILITY, cutoff=0.5 if caught else _CLOSE)
        if not caught and guess is None:
            continue
        meant = f"; did you mean {guess!r}?" if guess else ""
        effect = (
            "the gate cannot be used until it is fixed"
            if caught
            else "it is not read, so the gate applies to every note"
        )
        known = ", ".join(sorted(APPLICABILITY))
        found.append(
            Finding(
                CHECK,
                PROBLEM,
                f"gate {gate_id}: unknown applicability key {shown_key!r}{meant} ({effect})",
                f"rename it to {guess!r}" if guess else f"use one of: {known}",
            )
        )
    return found


def _plain(name: str) -> str:
    """`requiresType` read as `requires_type`: case and camel humps apart."""
    out = "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(name))
    return out.strip()
