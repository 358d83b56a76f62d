"""Model partitions (SPEC 4): the one function that turns `--model`/`--effort`
into the partition every command reads and writes."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from commonplace.choices import EFFORTS
from commonplace.clock import utc_now
from commonplace.errors import UsageError
from commonplace.store import acceptances, aliases
from commonplace.store.connection import Store

_OTHER = re.compile(r"[^a-z0-9]+")


class Partition(NamedTuple):
    requested_model: str
    effort: str | None
    model: str
    """The resolved, normalized model name (without effort)."""
    observed_effort: str | None = None
    """The effort a runner was seen to use when none was requested."""
    named_model: str = ""
    """The normalized name after the config alias, before observed resolutions."""

    @property
    def model_id(self) -> str:
        return with_effort(self.model, self.effort or self.observed_effort)


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
    """Aliases resolve through the config, then through the latest resolution
    the store has observed in telemetry for that name, then literally."""
    requested = normalize(model or "")
    if not requested:
        raise UsageError("--model must name a model")
    if effort is not None and effort not in EFFORTS:
        raise UsageError(f"--effort must be one of {', '.join(EFFORTS)}")
    target = alias_target(model, aliases)
    named = normalize(target) if target is not None else requested
    # Observed resolutions are keyed by the configured name, so that a runner
    # serving something else than the config says is followed, not re-asked.
    observed = _observed(store, named, effort)
    if observed is None:
        return Partition(requested, effort, named, named_model=named)
    model, observed_effort = observed
    return Partition(requested, effort, model, observed_effort, named_model=named)


def alias_target(model: str, aliases: Mapping[str, str]) -> str | None:
    """The model a configured alias names, as written in the config, or None."""
    requested = normalize(model or "")
    for alias, target in aliases.items():
        if normalize(alias) == requested:
            return target
    return None


def actual_model_id(telemetry: Mapping[str, object], requested_effort: str | None) -> str | None:
    """The partition a runner's telemetry says it used, or None when it names
    no single model (then nothing is rekeyed). The effort is the one telemetry
    shows, else the one requested."""
    model = telemetry.get("model")
    if not isinstance(model, str) or not normalize(model):
        return None
    effort = telemetry.get("effort")
    if not isinstance(effort, str) or effort not in EFFORTS:
        effort = requested_effort
    return with_effort(normalize(model), effort)


def observe_resolution(
    store: Store, partition: Partition, actual_model: str, actual_id: str, batch_id: int
) -> None:
    """Remember what a request resolved to, so that asking again with the same
    flags looks at the partition that was actually written."""
    if actual_id == partition.model_id:
        return
    with store.write() as conn:
        aliases.add_resolution(
            conn,
            requested_model=partition.named_model or partition.requested_model,
            requested_effort=partition.effort,
            resolved_model=normalize(actual_model),
            resolved_model_id=actual_id,
            observed_at=utc_now(),
            batch_id=batch_id,
        )


class ResolutionChange(NamedTuple):
    """Reviews asked for with the same flags as before went to another
    partition than the one those flags last resolved to (an alias the CLI now
    maps to a newer model, or a swap on the vendor's side)."""

    requested: str  # the flags, as `--model M [--effort E]`
    previous_model_id: str
    model_id: str
    accepted_pairs: int  # what the previous partition holds

    @property
    def message(self) -> str:
        pairs = f"{self.accepted_pairs} accepted pair{'' if self.accepted_pairs == 1 else 's'}"
        return (
            f"{self.requested} now resolves to {self.model_id} (was {self.previous_model_id},"
            f" which holds {pairs}); reviews go to the new partition"
        )


def resolution_changes(
    store: Store, partition: Partition, model_ids: Sequence[str | None]
) -> tuple[ResolutionChange, ...]:
    """One change per partition other than `partition.model_id` that reviews
    went to (`model_ids`: where each batch's runs ended), when the flags had
    resolved somewhere before: through a resolution observed earlier, or to a
    partition holding accepted pairs. A first resolution of a name that holds
    nothing is no change."""
    moved = [m for m in dict.fromkeys(model_ids) if m is not None and m != partition.model_id]
    if not moved:
        return ()
    held = accepted_pair_count(store, partition.model_id)
    observed = partition.model != partition.named_model or partition.observed_effort is not None
    if not held and not observed:
        return ()
    flags = f"--model {partition.requested_model}" + (
        f" --effort {partition.effort}" if partition.effort else ""
    )
    return tuple(ResolutionChange(flags, partition.model_id, m, held) for m in moved)


def accepted_pair_count(store: Store, model_id: str) -> int:
    """How many (note, gate) pairs have an acceptance in the partition."""
    with store.read() as conn:
        return acceptances.accepted_pair_count(conn, model_id)


def _observed(
    store: Store | None, requested: str, effort: str | None
) -> tuple[str, str | None] | None:
    """(model, effort seen when none was asked) from the latest resolution of
    this request; one made with the same effort wins over one without."""
    if store is None:
        return None
    with store.read() as conn:
        row = aliases.latest_resolution(conn, requested, effort)
    if row is None:
        return None
    model = normalize(row[0])
    if effort is None and row[2] is None and row[1].startswith(model + "-"):
        observed_effort = row[1][len(model) + 1 :]
        return model, observed_effort if observed_effort in EFFORTS else None
    return model, None
