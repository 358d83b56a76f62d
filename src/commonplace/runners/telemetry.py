"""A runner call's telemetry (SPEC 8): one normalized record per call,
whatever the harness, validated on construction so that nothing stored is
not a model id, a count or an amount; and the helpers adapters build it with.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from commonplace.runners import plausible

TELEMETRY_SCHEMA = "commonplace.telemetry/1"


@dataclass(frozen=True)
class Tokens:
    input: int | None = None
    output: int | None = None
    cache_read: int | None = None
    cache_write: int | None = None
    reasoning: int | None = None

    def __post_init__(self) -> None:
        # negative or non-numeric counts are dropped, whoever built the record
        for name in self.__dataclass_fields__:
            object.__setattr__(self, name, plausible.count(getattr(self, name)))

    def as_dict(self) -> dict[str, int | None]:
        return {
            "input": self.input,
            "output": self.output,
            "cache_read": self.cache_read,
            "cache_write": self.cache_write,
            "reasoning": self.reasoning,
        }


@dataclass(frozen=True)
class Telemetry:
    """Normalized telemetry of one call. `model` is the one main model that
    served it, or None when there were several or none (then nothing is rekeyed)."""

    runner: str
    cli_version: str | None = None
    model: str | None = None
    models: tuple[str, ...] = ()
    requested_model: str | None = None
    effort: str | None = None
    tokens: Tokens = field(default_factory=Tokens)
    input_includes_cache_read: bool = False  # OpenAI counts cached input inside input
    cost_usd: float | None = None
    duration_ms: int | None = None
    turns: int | None = None
    session_id: str | None = None
    sources: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Validated here so that no adapter (nor repair) can store what is not
        # a model id or a count: a model that is not plausible is dropped, and
        # `model` only stands when it is one of the kept `models`.
        models = distinct([m for m in map(plausible.model_id, self.models) if m])
        model = plausible.model_id(self.model)
        if self.models and model not in models:
            model = None
        object.__setattr__(self, "models", models)
        object.__setattr__(self, "model", model)
        object.__setattr__(self, "cost_usd", plausible.amount(self.cost_usd))
        object.__setattr__(self, "duration_ms", plausible.count(self.duration_ms))
        object.__setattr__(self, "turns", plausible.count(self.turns))

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema": TELEMETRY_SCHEMA,
            "runner": self.runner,
            "cli_version": self.cli_version,
            "model": self.model,
            "models": list(self.models),
            "requested_model": self.requested_model,
            "effort": self.effort,
            "tokens": self.tokens.as_dict(),
            "input_includes_cache_read": self.input_includes_cache_read,
            "cost_usd": self.cost_usd,
            "duration_ms": self.duration_ms,
            "turns": self.turns,
            "session_id": self.session_id,
            "sources": list(self.sources),
            **({"details": dict(self.details)} if self.details else {}),
        }


@dataclass(frozen=True)
class Session:
    """What a CLI's own log says about one of its sessions: the repair path's
    evidence when a run's telemetry was lost or never taken."""

    path: Path
    session_id: str | None
    cwd: str | None
    telemetry: Telemetry


def merge_telemetry(documents: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One telemetry document for several calls or sessions of the same runs
    (a re-ask for missing pairs, a repair finding two logs): sums, the models
    of all, and each document kept under `calls`."""
    if not documents:
        return {}
    if len(documents) == 1:
        return dict(documents[0])
    merged = dict(documents[0])
    models = list(dict.fromkeys(m for d in documents for m in d.get("models") or ()))
    merged["models"] = models
    merged["model"] = models[0] if len(models) == 1 else None
    merged["tokens"] = {
        key: total([(d.get("tokens") or {}).get(key) for d in documents])
        for key in documents[0].get("tokens") or {}
    }
    for key in ("cost_usd", "duration_ms", "turns"):
        merged[key] = _sum([d.get(key) for d in documents])
    merged["calls"] = [dict(d) for d in documents]
    return merged


def _sum(values: Sequence[Any]) -> Any:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def int_or_none(value: object) -> int | None:
    """A count, duration or number of turns: a non-negative whole number."""
    return plausible.count(value)


def total(values: Iterable[int | None]) -> int | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def usable_model(value: object) -> str | None:
    """A model name, unless absent or synthetic (`<synthetic>` marks messages
    the CLI wrote itself, like a usage-limit notice) or not a plausible id."""
    return plausible.model_id(value)


def distinct(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))
