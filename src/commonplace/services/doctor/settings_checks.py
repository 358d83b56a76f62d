"""Doctor's checks of commonplace.toml: read raw, so that an unknown key is
a finding with a "did you mean", not the error that stops every command."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from commonplace.config import SETTINGS, Config, config_from, find_kb_root
from commonplace.errors import UserError
from commonplace.services.doctor.findings import OK, PROBLEM, Finding, did_you_mean
from commonplace.settings import PRICE_KEYS, Defaults, RunnerSettings

CHECK = "config"
# Dropped one after another when the settings do not load, so that the other
# checks still run on the rest (each then with its default).
_DROP_ORDER = (
    "defaults",
    "runners",
    "pricing",
    "models",
    "lease_seconds",
    "schema",
    "store",
    "reports_dir",
    "recursive",
    "gates_dir",
    "scan_roots",
)


def check_settings(start: Path) -> tuple[Config | None, list[Finding]]:
    """The KB's configuration (None when there is no KB to check) and what
    is wrong with its settings."""
    try:
        root, source, raw = find_kb_root(start)
    except UserError as exc:
        fix = "run doctor inside a knowledge base; `commonplace init` makes one configured"
        if "not valid TOML" in exc.message:
            fix = "correct the TOML syntax at the line the message names"
        return None, [Finding(CHECK, PROBLEM, exc.message, fix)]
    where = _where(source)
    findings: list[Finding] = []
    if source is None:
        findings.append(
            Finding(
                CHECK,
                OK,
                f"no commonplace.toml in {root}: every setting takes its default",
                "`commonplace init` writes one with the folders it finds",
            )
        )
    sanitized = dict(raw)
    for key in _unknown(raw, SETTINGS):
        findings.append(_unknown_finding(where, "setting", key, SETTINGS))
        del sanitized[key]
    findings += _table_keys(sanitized, where)
    config = _load(root, source, sanitized, where, findings)
    return config, findings


def _table_keys(raw: dict[str, Any], where: str) -> list[Finding]:
    """Unknown keys inside [defaults], [runners.*] and [pricing.*], taken out
    of `raw` once reported."""
    found: list[Finding] = []
    defaults = raw.get("defaults")
    if isinstance(defaults, dict):
        known = set(Defaults._fields)
        for key in _unknown(defaults, known):
            found.append(_unknown_finding(where, "key in [defaults]", key, known))
        raw["defaults"] = {k: v for k, v in defaults.items() if k in known}
    for section, known in (
        ("runners", set(RunnerSettings._fields)),
        ("pricing", set(PRICE_KEYS)),
    ):
        tables = raw.get(section)
        if not isinstance(tables, dict):
            continue
        kept: dict[str, Any] = {}
        for name, table in tables.items():
            if isinstance(table, dict):
                for key in _unknown(table, known):
                    what = f"key in [{section}.{_name(name)}]"
                    found.append(_unknown_finding(where, what, key, known))
                table = {k: v for k, v in table.items() if k in known}
            kept[name] = table
        raw[section] = kept
    return found


def _load(
    root: Path, source: Path | None, raw: dict[str, Any], where: str, findings: list[Finding]
) -> Config:
    """The configuration; each setting that cannot be read is a finding (each
    tried alone, so that one bad setting hides no other), and the rest are
    checked with those left at their defaults."""
    bad = []
    for key in raw:
        try:
            config_from(root, source, {key: raw[key]})
        except UserError as exc:
            bad.append(key)
            findings.append(
                Finding(
                    CHECK,
                    PROBLEM,
                    exc.message,
                    f"correct that setting in {where}; every command refuses to start until"
                    " it is (the other checks use its default)",
                )
            )
    settings = {k: v for k, v in raw.items() if k not in bad}
    for drop in (None, *_DROP_ORDER):  # settings that are wrong only together
        if drop is not None:
            settings.pop(drop, None)
        try:
            config = config_from(root, source, settings)
        except UserError as exc:
            if drop is None:
                findings.append(Finding(CHECK, PROBLEM, exc.message, f"correct it in {where}"))
            continue
        return config
    return Config(kb_root=root, source=source)


def _where(source: Path | None) -> str:
    if source is None:
        return "the defaults"
    return (
        source.name if source.name == "commonplace.toml" else f"[tool.commonplace] of {source.name}"
    )


def _unknown(table: Mapping[str, Any], known: Iterable[str]) -> list[str]:
    return sorted(set(table) - set(known))


def _unknown_finding(where: str, what: str, key: str, known: Iterable[str]) -> Finding:
    guess = did_you_mean(key, known)
    options = ", ".join(sorted(known))
    fix = f"rename it to {guess!r}" if guess else f"remove it (known: {options})"
    meant = f"; did you mean {guess!r}?" if guess else ""
    return Finding(
        CHECK,
        PROBLEM,
        f"{where}: unknown {what} {_name(key)!r}{meant} (every command refuses to start)",
        fix,
    )


def _name(text: str) -> str:
    return text[:80]
