"""Queries of `model_alias_resolutions`: what a requested model resolved to."""

from __future__ import annotations

from typing import NamedTuple

from commonplace.store.acceptances import new_uid
from commonplace.store.connection import Connection


class Resolution(NamedTuple):
    resolved_model: str
    resolved_model_id: str
    requested_effort: str | None


def add_resolution(
    conn: Connection,
    *,
    requested_model: str,
    requested_effort: str | None,
    resolved_model: str,
    resolved_model_id: str,
    observed_at: str,
    batch_id: int,
) -> None:
    conn.execute(
        "INSERT INTO model_alias_resolutions (requested_model, requested_effort,"
        " resolved_model, resolved_model_id, observed_at, batch_id, uid)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            requested_model,
            requested_effort,
            resolved_model,
            resolved_model_id,
            observed_at,
            batch_id,
            new_uid(),
        ),
    )


def latest_resolution(conn: Connection, requested: str, effort: str | None) -> Resolution | None:
    """The latest resolution of this request; one made with the same effort
    wins over one without."""
    row = conn.execute(
        "SELECT resolved_model, resolved_model_id, requested_effort"
        " FROM model_alias_resolutions WHERE requested_model = ?"
        " ORDER BY requested_effort IS NOT DISTINCT FROM ? DESC, id DESC LIMIT 1",
        (requested, effort),
    ).fetchone()
    return None if row is None else Resolution(row[0], row[1], row[2])
