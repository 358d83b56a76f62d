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
from commonplace.kb.suggest import did_you_mean
from commonplace.runners.base import Adapter
from commonplace.settings import API_SETTINGS, RunnerSettings, parse_runner_settings


def _claude_code(settings: RunnerSettings, config: Config) -> Adapter:
    from commonplace.runners.claude_code import ClaudeCodeAdapter

    return ClaudeCodeAdapter(settings)


def _codex(settings: RunnerSettings, config: Config) -> Adapter:
    from commonplace.runners.codex import CodexAdapter

    return CodexAdapter(settings)


def _anthropic_api(settings: RunnerSettings, config: Config) -> Adapter:
    from commonplace.runners.anthropic_api import AnthropicApiAdapter
    from commonplace.runners.pricing import PriceTable

    return AnthropicApiAdapter(settings, PriceTable(config.pricing))


def _openai_api(settings: RunnerSettings, config: Config) -> Adapter:
    from commonplace.runners.openai_api import OpenAIApiAdapter
    from commonplace.runners.pricing import PriceTable

    return OpenAIApiAdapter(settings, PriceTable(config.pricing))


RUNNERS: dict[str, Callable[[RunnerSettings, Config], Adapter]] = {
    "claude-code": _claude_code,
    "codex": _codex,
    "anthropic-api": _anthropic_api,
    "openai-api": _openai_api,
}
API_RUNNERS = ("anthropic-api", "openai-api")


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
        api_only = [k for k in API_SETTINGS if k in (table or {})]
        if api_only and name not in API_RUNNERS:
            raise UserError(f"[runners.{name}]: {', '.join(api_only)}: only for API runners")
        if settings.api is not None and name != "openai-api":
            raise UserError(f"[runners.{name}]: api is a setting of openai-api")
        return RUNNERS[name](settings, config)
    if table is not None and settings.command:
        from commonplace.runners.command import CommandAdapter

        return CommandAdapter(name, settings, config.kb_root)
    if table is not None:
        raise UserError(f'[runners.{name}] needs command = ["program", "arg", ...]')
    names = runner_names(config)
    hint = did_you_mean(name, names) or f" (choose from: {', '.join(names)})"
    raise UsageError(f"unknown runner {name!r}{hint}")


def runner_settings(name: str, table: Mapping[str, Any]) -> RunnerSettings:
    """`[runners.<name>]` as typed settings (`settings.parse_runner_settings`)."""
    return parse_runner_settings(name, table)


__all__ = ["API_RUNNERS", "RUNNERS", "Adapter", "get_runner", "runner_names", "runner_settings"]
