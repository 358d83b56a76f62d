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
from commonplace.review.runners.base import Adapter, RunnerSettings


def _claude_code(settings: RunnerSettings) -> Adapter:
    from commonplace.review.runners.claude_code import ClaudeCodeAdapter

    return ClaudeCodeAdapter(settings)


def _codex(settings: RunnerSettings) -> Adapter:
    from commonplace.review.runners.codex import CodexAdapter

    return CodexAdapter(settings)


RUNNERS: dict[str, Callable[[RunnerSettings], Adapter]] = {
    "claude-code": _claude_code,
    "codex": _codex,
}
_SETTINGS = {"binary", "command", "extra_args", "env", "timeout"}


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
        from commonplace.review.runners.command import CommandAdapter

        return CommandAdapter(name, settings, config.kb_root)
    if table is not None:
        raise UserError(f'[runners.{name}] needs command = ["program", "arg", ...]')
    raise UsageError(f"unknown runner {name!r} (choose from: {', '.join(runner_names(config))})")


def runner_settings(name: str, table: Mapping[str, Any]) -> RunnerSettings:
    where = f"[runners.{name}]"
    unknown = sorted(set(table) - _SETTINGS)
    if unknown:
        raise UserError(f"{where}: unknown setting(s): {', '.join(unknown)}")

    def strings(key: str) -> tuple[str, ...]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise UserError(f"{where}: {key} must be a list of strings")
        return tuple(value)

    binary = table.get("binary")
    if binary is not None and (not isinstance(binary, str) or not binary.strip()):
        raise UserError(f"{where}: binary must be a path or a command name")
    timeout = table.get("timeout")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0
    ):
        raise UserError(f"{where}: timeout must be a positive number of seconds")
    command = strings("command")
    if "command" in table and (not command or not command[0].strip()):
        raise UserError(f"{where}: command must name a program")
    return RunnerSettings(
        binary=binary,
        command=command,
        extra_args=strings("extra_args"),
        env=strings("env"),
        timeout=float(timeout) if timeout is not None else None,
    )


__all__ = ["RUNNERS", "Adapter", "get_runner", "runner_names", "runner_settings"]
