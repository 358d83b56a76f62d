"""The project's clock: every timestamp the store keeps is written here, as
text that sorts in time order; and the one reader of timestamps runners report.

A module of its own, imported by the lifecycle, the partitions and the
reports alike, so that none of them imports another only to know the time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def utc_now() -> str:
    return iso_utc(datetime.now(UTC))


def utc_before(delta: timedelta) -> str:
    """The moment `delta` ago, as `utc_now` writes it: a cutoff to compare with."""
    return iso_utc(datetime.now(UTC) - delta)


def utc_after(delta: timedelta) -> str:
    """The moment `delta` from now, as `utc_now` writes it: a lease's end."""
    return iso_utc(datetime.now(UTC) + delta)


def iso_utc(moment: datetime) -> str:
    """UTC, ISO-8601 with milliseconds and `Z`: sorts as text in time order."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def span_ms(first: object, last: object) -> int | None:
    """Milliseconds between two ISO-8601 timestamps, or None."""
    try:
        start = datetime.fromisoformat(str(first).replace("Z", "+00:00"))
        end = datetime.fromisoformat(str(last).replace("Z", "+00:00"))
        return max(0, round((end - start).total_seconds() * 1000))
    except (ValueError, TypeError):  # unreadable, or one with a zone and one without
        return None
