"""`--note PATH...` followed by gate arguments.

`--note` takes several paths, so argparse would also take the gates written
after them (`--note a.md prose`) as notes. Before parsing, values that can only
be gates are left to the positional arguments.
"""

from __future__ import annotations

import argparse

# Imported with every command's parser: only what parsing needs at start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path
    from typing import Any

    from commonplace.config import Config
    from commonplace.services.changes import ChangedScope
    from commonplace.workspace import Workspace


class NotesAction(argparse.Action):
    """`--note` values, collected over repeated `--note` options."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        notes = list(getattr(namespace, self.dest, None) or [])
        notes.extend(values if isinstance(values, list) else [values])
        setattr(namespace, self.dest, notes)


def split_note_values(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """`--note a.md b.md prose` as `--note a.md --note b.md prose`: every value
    after the first that names a gate or lens of the KB and no file or folder
    is left for the positional gate arguments instead of being taken as a note.
    Only values that could never name a note move, so what worked before
    means the same."""
    from functools import cache

    kb = cache(_kb_for_gates)  # the KB is looked up only when a value needs it
    out: list[str] = []
    index = 0
    while index < len(argv):
        token = argv[index]
        index += 1
        if token == "--":
            out += [token, *argv[index:]]
            break
        if not _is_note_option(parser, token) or index == len(argv) or argv[index][:1] == "-":
            out.append(token)  # argparse reports a --note without a value itself
            continue
        # `--note=VALUE` takes exactly that one value, whatever follows it.
        out.append(f"--note={argv[index]}")
        index += 1
        while index < len(argv) and argv[index][:1] != "-":
            if _is_gate_not_path(kb(), argv[index]):
                break
            out.append(f"--note={argv[index]}")
            index += 1
    return out


def _is_note_option(parser: argparse.ArgumentParser, token: str) -> bool:
    """`--note`, or an abbreviation argparse would take for it."""
    if token == "--note":
        return True
    if not parser.allow_abbrev or len(token) < 3 or not "--note".startswith(token):
        return False
    longs = [o for a in parser._actions for o in a.option_strings if o.startswith(token)]
    return longs == ["--note"]


def _kb_for_gates() -> tuple[Config, Path] | None:
    """(config, working directory) of the KB around the working directory, or
    None when there is none (the command reports that itself later)."""
    from pathlib import Path

    from commonplace.config import load_config
    from commonplace.errors import UserError

    try:
        cwd = Path.cwd()
        return load_config(cwd), cwd
    except (UserError, OSError):
        return None


def _is_gate_not_path(kb: tuple[Config, Path] | None, value: str) -> bool:
    import os

    from commonplace.kb.paths import canonical_ref

    if kb is None or value.endswith(".md"):
        return False
    config, cwd = kb
    try:
        if os.path.lexists(cwd / value) or os.path.lexists(config.kb_root / value):
            return False
        ref = canonical_ref(value)
        if ref is None:
            return False
        gate = config.gates_path / ref
        return gate.is_dir() or ("/" in ref and gate.with_name(gate.name + ".md").is_file())
    except (OSError, ValueError):  # a name the file system refuses is no gate
        return False


def add_changed_since(parser: argparse.ArgumentParser) -> None:
    """`--changed-since REF`: only the notes a pull request or branch touched."""
    parser.add_argument(
        "--changed-since",
        metavar="REF",
        help="only notes changed since REF (git diff REF...HEAD, plus uncommitted changes)"
        " and notes under gates changed since REF; narrows the other note options",
    )


def changed_scope(
    args: argparse.Namespace, ws: Workspace, gate_refs: Sequence[str] = ()
) -> ChangedScope | None:
    """The `--changed-since` scope of the command, or None without it."""
    ref = getattr(args, "changed_since", None)
    if ref is None:
        return None
    from commonplace.services.changes import since

    return since(ws, ws.git_state(), ref, gate_refs)


def changed_note_keys(args: argparse.Namespace, ws: Workspace) -> frozenset[str] | None:
    """The notes in the `--changed-since` scope, for commands that filter
    their own entries by note; None without the option."""
    changed = changed_scope(args, ws)
    return None if changed is None else changed.note_keys(ws, ws.git_state())
