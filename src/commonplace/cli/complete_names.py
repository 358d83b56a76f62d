"""`commonplace __complete gates|runners [--] PREFIX`: the names the
completion scripts (cli/completion.py) offer, read from the KB around the
working directory, one a line."""

from __future__ import annotations

import re
import sys

# What the KB may offer for completion: a plain name, nothing a shell or a
# terminal reads specially.
_SAFE = re.compile(r"[A-Za-z0-9._/@+-]+\Z")


def complete(argv: list[str]) -> int:
    """`commonplace __complete gates|runners [PREFIX]`: the names starting
    with PREFIX, one a line; nothing (exit 1) outside a KB."""
    kind, rest = (argv[0], argv[1:]) if argv else ("", [])
    rest = rest[1:] if rest[:1] == ["--"] else rest
    prefix = rest[0] if rest else ""
    names = _names(kind)
    if names is None:
        return 1
    for name in names:
        if name.startswith(prefix) and _SAFE.match(name):
            sys.stdout.write(name + "\n")
    return 0


def _names(kind: str) -> list[str] | None:
    from commonplace.config import load_config
    from commonplace.errors import UserError

    try:
        config = load_config()
        if kind == "gates":
            from commonplace.kb.gates import every_gate_ids, list_lenses

            return [*list_lenses(config), *every_gate_ids(config)]
        if kind == "runners":
            from commonplace.runners import runner_names

            return runner_names(config)
    except (UserError, OSError):
        return None
    return None
