"""The project's clock: timestamps that sort as text in time order."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from commonplace.clock import iso_utc, span_ms, utc_before, utc_now

_SHAPE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def test_iso_utc_writes_utc_with_milliseconds() -> None:
    moment = datetime(2026, 3, 4, 5, 6, 7, 891234, tzinfo=timezone(timedelta(hours=2)))
    assert iso_utc(moment) == "2026-03-04T03:06:07.891Z"


def test_timestamps_sort_as_text_in_time_order() -> None:
    before = utc_before(timedelta(seconds=1))
    now = utc_now()
    assert _SHAPE.fullmatch(before) and _SHAPE.fullmatch(now)
    assert before < now
    late = datetime(2026, 1, 1, 0, 0, 0, 999000, tzinfo=UTC)
    assert iso_utc(late) < iso_utc(late + timedelta(milliseconds=1))


def test_span_ms_reads_two_timestamps_and_refuses_what_it_cannot_read() -> None:
    assert span_ms("2026-01-01T00:00:00Z", "2026-01-01T00:00:01.5Z") == 1500
    assert span_ms("2026-01-01T00:00:02Z", "2026-01-01T00:00:01Z") == 0
    assert span_ms("2026-01-01T00:00:00Z", "2026-01-01T00:00:01") is None  # zone, no zone
    assert span_ms(None, "2026-01-01T00:00:01Z") is None
    assert span_ms("yesterday", "today") is None
