"""Model partitions (SPEC 4): the one function that turns `--model`/`--effort`
into the partition every command reads and writes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from commonplace.errors import UsageError
from commonplace.review.store import Store

EFFORTS = ("low", "medium", "high", "xhigh", "max")
_OTHER = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class Partition:
    requested_model: str
    effort: str | None
    model: str
    """The resolved, normalized model name (without effort)."""

    @property
    def model_id(self) -> str:
        return with_effort(self.model, self.effort)


def normalize(name: str) -> str:
    """Lower-case; every run of other characters becomes one `-`."""
    return _OTHER.sub("-", name.lower()).strip("-")


def with_effort(model: str, effort: str | None) -> str:
    return f"{model}-{effort}" if effort else model


def resolve_partition(
    model: str,
    effort: str | None,
    *,
    aliases: Mapping[str, str],
    store: Store | None,
) -> Partition:
    """Aliases resolve through the config, then the latest alias resolution the
    store has observed in telemetry, then literally."""
    requested = normalize(model or "")
    if not requested:
        raise UsageError("--model must name a model")
    if effort is not None and effort not in EFFORTS:
        raise UsageError(f"--effort must be one of {', '.join(EFFORTS)}")
    configured = {normalize(k): v for k, v in aliases.items()}
    if requested in configured:
        resolved = normalize(configured[requested])
    else:
        resolved = _observed(store, requested) or requested
    return Partition(requested_model=requested, effort=effort, model=resolved)


def _observed(store: Store | None, requested: str) -> str | None:
    if store is None:
        return None
    with store.read() as conn:
        row = conn.execute(
            "SELECT resolved_model FROM model_alias_resolutions WHERE requested_model = ? "
            "ORDER BY id DESC LIMIT 1",
            (requested,),
        ).fetchone()
    return normalize(row[0]) if row else None
