"""Runner adapters and their registry (SPEC 8).

Built-in harnesses are registered here by name, each by a factory that
imports its adapter only when that runner is asked for; `[runners.<name>]`
tables with a `command` in commonplace.toml add command runners. Every
`--runner` choice comes from `runner_names`. Adding a harness is one module
and one entry in `RUNNERS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from commonplace.config import Config
from commonplace.errors import UsageError, UserError
from commonplace.runners.base import Adapter
from commonplace.settings import RunnerSettings, parse_runner_settings


def _claude_code(settings: RunnerSettings) -> Adapter:
    from commonplace.runners.claude_code import ClaudeCodeAdapter

    return ClaudeCodeAdapter(settings)


def _codex(settings: RunnerSettings) -> Adapter:
    from commonplace.runners.codex import CodexAdapter

    return CodexAdapter(settings)


RUNNERS: dict[str, Callable[[RunnerSettings], Adapter]] = {
    "claude-code": _claude_code,
    "codex": _codex,
}


def runner_names(config: Config) -> list[str]:
    """Built-in runners, then the command runners the config defines."""
    configured = [n for n, t in config.runners.items() if n not in RUNNERS and "command" in t]
    return [*RUNNERS, *sorted(configured)]


def get_runner(config: Config, name: str) -> Adapter:
    """A fresh adapter for `name`; an unknown name is a usage error listing the choices."""
    table = config.runners.get(name)
    settings = runner_settings(name, table or {})
    if name in RUNNERS:
        if settings.command:
            raise UserError(f"[runners.{name}]: a built-in runner takes `binary`, not `command`")
        return RUNNERS[name](settings)
    if table is not None and settings.command:
        from commonplace.runners.command import CommandAdapter

        return CommandAdapter(name, settings, config.kb_root)
    if table is not None:
        raise UserError(f'[runners.{name}] needs command = ["program", "arg", ...]')
    raise UsageError(f"unknown runner {name!r} (choose from: {', '.join(runner_names(config))})")


def runner_settings(name: str, table: Mapping[str, Any]) -> RunnerSettings:
    """`[runners.<name>]` as typed settings (`settings.parse_runner_settings`)."""
    return parse_runner_settings(name, table)


__all__ = ["RUNNERS", "Adapter", "get_runner", "runner_names", "runner_settings"]
