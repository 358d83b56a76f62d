"""The typed tables of commonplace.toml: `[defaults]` and `[runners.<name>]`.

Each table is parsed once into a NamedTuple (a frozen record); an unknown key or a value
of the wrong type is a `UserError` naming the key (and, from `load_config`,
the file), never a value some command reads later.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from commonplace.choices import DEFAULT_JOBS, DEFAULT_TIMEOUT, EFFORTS, Effort
from commonplace.errors import UserError

# How long a running run stays live without its owner renewing the lease
# (`lease_seconds` in commonplace.toml); the owner renews every third of it.
DEFAULT_LEASE_SECONDS = 120.0
LEASE_LIMITS = (1.0, 86400.0)  # below a second it renews in a busy loop


class Defaults(NamedTuple):
    """`[defaults]`: what a command takes when its option is not given."""

    runner: str | None = None
    model: str | None = None
    effort: Effort | None = None  # only goes with the default model
    timeout: float = DEFAULT_TIMEOUT  # seconds; a runner's own timeout comes first
    jobs: int = DEFAULT_JOBS  # batches a sweep runs at once


class RunnerSettings(NamedTuple):
    """One runner's configuration (`[runners.<name>]` in commonplace.toml)."""

    binary: str | None = None
    command: tuple[str, ...] = ()
    extra_args: tuple[str, ...] = ()
    env: tuple[str, ...] = ()  # names of further variables the child may see
    timeout: float | None = None
    # API runners only (`anthropic-api`, `openai-api`)
    base_url: str | None = None  # else ANTHROPIC_BASE_URL / OPENAI_BASE_URL, else the SDK's
    api: str | None = None  # openai-api: "responses" (default) or "chat" (Chat Completions)
    max_output_tokens: int | None = None
    max_retries: int | None = None  # 429, overload and 5xx answers retried this often


class ReportSettings(NamedTuple):
    """`[report]`: how reports link to the KB's files."""

    repository_url: str | None = None
    """Where the repository's files are browsed (a GitHub `blob/<branch>/`
    URL); None: links relative to the report."""


API_SETTINGS = ("base_url", "api", "max_output_tokens", "max_retries")
OPENAI_APIS = ("responses", "chat")


class ModelPrice(NamedTuple):
    """One model's prices in USD per million tokens (`[pricing.<model>]`)."""

    input: float
    output: float
    cache_write: float
    cache_read: float
    batch_input: float
    batch_output: float
    source: str = ""  # where the prices were taken from, and when


class PriceOverride(NamedTuple):
    """A `[pricing.<model>]` table: the prices it gives (None: not given)."""

    input: float | None = None
    output: float | None = None
    cache_write: float | None = None
    cache_read: float | None = None
    batch_input: float | None = None
    batch_output: float | None = None
    source: str = ""


def parse_defaults(table: Mapping[str, Any], where: str) -> Defaults:
    """`[defaults]` of the file `where`, every key known and typed."""
    _no_unknown(table, Defaults._fields, f"[defaults] of {where}")

    def name(key: str, what: str) -> str | None:
        value = table.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise UserError(f"{where}: [defaults] {key} must name a {what}")
        return value

    effort = table.get("effort")
    if effort is not None and effort not in EFFORTS:
        raise UserError(f"{where}: [defaults] effort must be one of {', '.join(EFFORTS)}")
    timeout = table.get("timeout", DEFAULT_TIMEOUT)
    if not _positive_number(timeout):
        raise UserError(f"{where}: [defaults] timeout must be a positive number of seconds")
    jobs = table.get("jobs", DEFAULT_JOBS)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise UserError(f"{where}: [defaults] jobs must be a positive whole number")
    return Defaults(
        runner=name("runner", "runner"),
        model=name("model", "model"),
        effort=Effort(effort) if effort is not None else None,
        timeout=float(timeout),
        jobs=jobs,
    )


def parse_runner_settings(name: str, table: Mapping[str, Any]) -> RunnerSettings:
    """`[runners.<name>]`; errors start with the table's name."""
    where = f"[runners.{name}]"
    unknown = sorted(set(table) - set(RunnerSettings._fields))
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
    if timeout is not None and not _positive_number(timeout):
        raise UserError(f"{where}: timeout must be a positive number of seconds")
    command = strings("command")
    if "command" in table and (not command or not command[0].strip()):
        raise UserError(f"{where}: command must name a program")
    base_url = table.get("base_url")
    if base_url is not None and (
        not isinstance(base_url, str) or not base_url.startswith(("http://", "https://"))
    ):
        raise UserError(f"{where}: base_url must be an http:// or https:// URL")
    api = table.get("api")
    if api is not None and api not in OPENAI_APIS:
        raise UserError(f"{where}: api must be one of {', '.join(OPENAI_APIS)}")
    return RunnerSettings(
        binary=binary,
        command=command,
        extra_args=strings("extra_args"),
        env=strings("env"),
        timeout=float(timeout) if timeout is not None else None,
        base_url=base_url,
        api=api,
        max_output_tokens=_whole(table, "max_output_tokens", where, least=1),
        max_retries=_whole(table, "max_retries", where, least=0),
    )


def parse_report(table: Mapping[str, Any], where: str) -> ReportSettings:
    """`[report]` of the file `where`."""
    _no_unknown(table, ReportSettings._fields, f"[report] of {where}")
    url = table.get("repository_url")
    if url is None:
        return ReportSettings()
    return ReportSettings(repository_url=repository_url(url, f"{where}: [report] repository_url"))


def repository_url(value: object, setting: str) -> str:
    """A repository URL that file paths are appended to: http or https, with a
    host, nothing a browser would read differently, no query or fragment;
    ends with `/`."""
    from urllib.parse import urlsplit

    text = value.strip() if isinstance(value, str) else ""
    parts = urlsplit(text) if text else None
    if (
        parts is None
        or parts.scheme.lower() not in ("http", "https")
        or not parts.hostname
        or any(ord(c) <= 0x20 or c in "\x7f\\\"'<>`" for c in text)
        or parts.query
        or parts.fragment
        or "?" in text
        or "#" in text
    ):
        raise UserError(
            f"{setting} must be an http:// or https:// URL without spaces, query or fragment"
            " (e.g. https://github.com/ORG/REPO/blob/main/)"
        )
    return text if text.endswith("/") else text + "/"


PRICE_KEYS = ("input", "output", "cache_write", "cache_read", "batch_input", "batch_output")


def parse_prices(table: Mapping[str, Any], where: str) -> dict[str, PriceOverride]:
    """`[pricing.<model>]` tables, every key known and every price a number.
    (`runners.pricing.PriceTable` lays them over the shipped table.)"""
    prices: dict[str, PriceOverride] = {}
    for model, entry in table.items():
        here = f"{where}: [pricing.{model}]"
        if not isinstance(entry, dict):
            raise UserError(f"{here} must be a table")
        unknown = sorted(set(entry) - set(PRICE_KEYS))
        if unknown:
            raise UserError(f"{here}: unknown key(s): {', '.join(unknown)}")
        for key, value in entry.items():
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not (0 <= value < float("inf"))
            ):
                raise UserError(f"{here}: {key} must be a price in USD per million tokens")
        given = {k: float(v) for k, v in entry.items()}
        prices[model] = PriceOverride(**given, source=here)
    return prices


def _whole(table: Mapping[str, Any], key: str, where: str, *, least: int) -> int | None:
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise UserError(f"{where}: {key} must be a whole number of at least {least}")
    return value


def parse_lease_seconds(value: object, where: str) -> float:
    """`lease_seconds`: a number of seconds within `LEASE_LIMITS`."""
    low, high = LEASE_LIMITS
    # `nan` compares false both ways, so it is refused with the rest
    if isinstance(value, int | float) and not isinstance(value, bool) and low <= value <= high:
        return float(value)
    raise UserError(f"{where}: lease_seconds must be a number of seconds from {low:g} to {high:g}")


def _no_unknown(table: Mapping[str, Any], names: tuple[str, ...], where: str) -> None:
    known = sorted(names)
    for key in sorted(table):
        if key not in known:
            raise UserError(f"unknown key {key!r} in {where} (known: {', '.join(known)})")


def _positive_number(value: object) -> bool:
    # finite: `inf` and `nan` from TOML are mistakes, not "no limit"
    return (
        not isinstance(value, bool) and isinstance(value, int | float) and 0 < value < float("inf")
    )
