"""Where the knowledge base is and how it is laid out (SPEC 2).

The KB root is the nearest directory, walking up from the working directory,
that holds `commonplace.toml`, a `pyproject.toml` with `[tool.commonplace]`, or
`.git`. Every setting has a default matching the seeds' layout.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

from commonplace.errors import UserError
from commonplace.settings import (
    DEFAULT_LEASE_SECONDS,
    Defaults,
    PriceOverride,
    ReportSettings,
    parse_defaults,
    parse_lease_seconds,
    parse_prices,
    parse_report,
    parse_runner_settings,
)

CONFIG_FILE = "commonplace.toml"
STORE_ENV = "COMMONPLACE_REVIEW_DB"
# The default of every table setting: read-only, so one shared instance is safe.
_EMPTY: Mapping[str, Any] = MappingProxyType({})


class WalkMemo:
    """What was found by walking the KB tree, for as long as a command keeps
    its Config. `_replace` shares it with the copy, so users key what they
    keep by the settings it was found under."""

    __slots__ = ("found",)

    def __init__(self) -> None:
        self.found: dict[object, object] = {}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WalkMemo)

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "WalkMemo()"


class Config(NamedTuple):
    kb_root: Path
    scan_roots: tuple[str, ...] = ("kb/notes", "kb/reference")
    # False: a scan root, or a folder given with --note, gives only the notes
    # directly in it, not those of its subfolders.
    recursive: bool = True
    gates_dir: str = "kb/instructions/review-gates"
    reports_dir: str = "kb/reports"
    # A path inside the KB, or a PostgreSQL URL (without its password).
    store: str = "kb/reports/review-store.sqlite"
    # The PostgreSQL schema that holds this KB's store (None: the default).
    schema: str | None = None
    # How long a run stays live unless its owner renews its lease (seconds).
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    model_aliases: Mapping[str, str] = _EMPTY
    defaults: Defaults = Defaults()
    # Each table as written (checked when loaded); runners.get_runner types it.
    runners: Mapping[str, Mapping[str, Any]] = _EMPTY
    # `[pricing.<model>]`: prices that replace or add to the shipped table
    pricing: Mapping[str, PriceOverride] = _EMPTY
    report: ReportSettings = ReportSettings()
    source: Path | None = None
    # What kb modules find by walking the KB tree (the type specs and
    # COLLECTION.md files), kept so that a command, which has one Config,
    # walks the tree once. `load_config` gives each Config its own; None keeps
    # nothing. Never part of equality or the hash.
    found: WalkMemo | None = None

    @property
    def gates_path(self) -> Path:
        return self.kb_root / self.gates_dir

    @property
    def reports_path(self) -> Path:
        return self.kb_root / self.reports_dir

    def store_target(self, override: str | os.PathLike[str] | None = None) -> Path | str:
        """`--db`, then the environment variable, then the configured store:
        a PostgreSQL URL as given, or a file path (`--db` relative to the
        working directory, the others to the KB root)."""
        from commonplace.store.location import is_url

        chosen = os.fspath(override) if override else os.environ.get(STORE_ENV, "").strip()
        if chosen and is_url(chosen):
            return chosen.strip()
        if override:
            return Path(override).absolute()
        if chosen:
            return self.kb_root / chosen if not os.path.isabs(chosen) else Path(chosen)
        return self.store if is_url(self.store) else self.kb_root / self.store

    def store_path(self, override: str | os.PathLike[str] | None = None) -> Path:
        """The store file (see `store_target`); an error for a server store."""
        target = self.store_target(override)
        if isinstance(target, str):
            raise UserError(f"the review store is on a PostgreSQL server, not a file: {target}")
        return target

    def store_setting(self, override: str | os.PathLike[str] | None = None) -> str:
        """What named the store path of `store_path(override)`, for messages."""
        if override:
            return "--db"
        if os.environ.get(STORE_ENV, "").strip():
            return STORE_ENV
        where = f"in {self.source.name}" if self.source else "by default"
        from commonplace.store.location import masked

        return f'store = "{masked(self.store)}" {where}'


def find_kb_root(start: Path) -> tuple[Path, Path | None, dict[str, Any]]:
    """Return (root, config file or None, raw settings) for the KB containing `start`."""
    start = start.absolute()
    for directory in (start, *start.parents):
        candidate = directory / CONFIG_FILE
        if candidate.is_file():
            return directory, candidate, _load_toml(candidate)
        pyproject = directory / "pyproject.toml"
        if pyproject.is_file():
            tool = _load_toml(pyproject).get("tool", {})
            if isinstance(tool, dict) and isinstance(tool.get("commonplace"), dict):
                return directory, pyproject, tool["commonplace"]
        if (directory / ".git").exists():
            return directory, None, {}
    raise UserError(
        f"no knowledge base found at or above {start} "
        f"(looked for {CONFIG_FILE}, pyproject.toml with [tool.commonplace], or .git)"
    )


# Every top-level setting of commonplace.toml (or [tool.commonplace]).
SETTINGS = frozenset(
    {"scan_roots", "recursive", "gates_dir", "reports_dir", "store", "schema"}
    | {"models", "defaults", "runners", "pricing", "lease_seconds", "report"}
)


def load_config(start: Path | None = None) -> Config:
    root, source, raw = find_kb_root(start or Path.cwd())
    return config_from(root, source, raw)


def config_from(root: Path, source: Path | None, raw: dict[str, Any]) -> Config:
    """The configuration the settings `raw` of `source` give the KB at `root`."""
    where = source.name if source else "defaults"
    unknown = sorted(set(raw) - SETTINGS)
    if unknown:
        raise UserError(f"{where}: unknown setting(s): {', '.join(unknown)}")
    values: dict[str, Any] = {}
    if "scan_roots" in raw:
        roots = raw["scan_roots"]
        if not isinstance(roots, list) or not all(isinstance(r, str) for r in roots):
            raise UserError(f"{where}: scan_roots must be a list of paths")
        values["scan_roots"] = tuple(_inside(root, r, where, "scan_roots") for r in roots)
    if "recursive" in raw:
        if not isinstance(raw["recursive"], bool):
            raise UserError(f"{where}: recursive must be true or false")
        values["recursive"] = raw["recursive"]
    if isinstance(raw.get("store"), str) and _is_url(raw["store"]):
        values["store"] = _server_url(raw["store"], where)
    if "schema" in raw:
        from commonplace.store.location import check_schema

        if not isinstance(raw["schema"], str):
            raise UserError(f"{where}: schema must be a name")
        values["schema"] = check_schema(raw["schema"], where)
    if "lease_seconds" in raw:
        values["lease_seconds"] = parse_lease_seconds(raw["lease_seconds"], where)
    for key in ("gates_dir", "reports_dir", "store"):
        if key in raw and key not in values:
            if not isinstance(raw[key], str) or not raw[key].strip():
                raise UserError(f"{where}: {key} must be a path")
            values[key] = _inside(root, raw[key], where, key, as_written=key != "gates_dir")
    for key in ("models", "defaults", "report"):
        if not isinstance(raw.get(key, {}), dict):
            raise UserError(f"{where}: [{key}] must be a table")
    values["model_aliases"] = MappingProxyType(dict(raw.get("models", {})))
    if not all(isinstance(v, str) for v in values["model_aliases"].values()):
        raise UserError(f"{where}: every [models] alias must map to a model name")
    values["defaults"] = parse_defaults(raw.get("defaults", {}), where)
    values["report"] = parse_report(raw.get("report", {}), where)
    runners = raw.get("runners", {})
    if not isinstance(runners, dict) or not all(isinstance(v, dict) for v in runners.values()):
        raise UserError(f"{where}: [runners.<name>] entries must be tables")
    for name, table in runners.items():
        try:
            parse_runner_settings(name, table)
        except UserError as exc:
            raise UserError(f"{where}: {exc.message}") from None
    values["runners"] = MappingProxyType({k: MappingProxyType(v) for k, v in runners.items()})
    if "pricing" in raw:
        if not isinstance(raw["pricing"], dict):
            raise UserError(f"{where}: [pricing] must be a table of [pricing.<model>] tables")
        values["pricing"] = MappingProxyType(parse_prices(raw["pricing"], where))
    return Config(kb_root=root, source=source, found=WalkMemo(), **values)


def _is_url(text: str) -> bool:
    from commonplace.store.location import is_url

    return is_url(text)


def _server_url(url: str, where: str) -> str:
    """A store URL written in a (committed) file must carry no password:
    libpq finds it in PGPASSWORD, ~/.pgpass or a service file."""
    from commonplace.store.location import has_password, masked, split_url

    if has_password(url):
        raise UserError(
            f"{where}: the store URL carries a password ({masked(url)}); take it out and"
            " give it in PGPASSWORD, ~/.pgpass or a service file instead"
        )
    split_url(url, None, where)  # malformed: said now, not at the first query
    return url.strip()


def _load_toml(path: Path) -> dict[str, Any]:
    import tomllib  # only when there is a file to read

    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not valid TOML: {exc}") from exc
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror}") from exc


def _inside(root: Path, value: str, where: str, key: str, *, as_written: bool = False) -> str:
    """A configured path must stay inside the KB; return it KB-relative, POSIX.
    A path files are written to is kept `as_written` (only `.` and `..`
    tidied), not resolved: a link on it must be refused when writing, not
    quietly followed to wherever it leads inside the KB."""
    from commonplace.safe_files import parts_under

    resolved = (root / value).resolve()
    try:
        relative = resolved.relative_to(root.resolve()).as_posix()
        written = parts_under(root, root / value)
        if not as_written:
            return relative
        if written is None:
            raise ValueError(value)
        return "/".join(written) or "."
    except ValueError:
        raise UserError(f"{where}: {key} points outside the knowledge base: {value}") from None
