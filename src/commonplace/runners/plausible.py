"""What a telemetry value must look like to be kept (issue: telemetry is
validated). Telemetry comes from a child process, a file it wrote or a CLI's
session log, all of which an attacker can shape: a "model name" becomes a
partition and a file name in reports, a token count becomes a cost. A value
that is not plausible is dropped (None), never repaired."""

from __future__ import annotations

import math
import re

MODEL_ID_MAX = 128
# Letters, digits and the punctuation real ids use: `claude-sonnet-4-5-20250929`,
# `gpt-5.5`, `openrouter/anthropic/claude-3.5`, `claude-3-5-sonnet@20240620`,
# `us.anthropic.claude-3-5-sonnet-20241022-v2:0`, `llama3:8b`, and names shown
# to people (`Llama 3 8B`: single spaces; partitions normalize them). No
# quotes, brackets, tabs, line breaks, control characters or markup.
_MODEL_ID = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._:/@-]| (?! ))*")
_LETTER = re.compile(r"[A-Za-z]")


def model_id(value: object) -> str | None:
    """`value` stripped, if it is a plausible model id."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not 0 < len(value) <= MODEL_ID_MAX or not _MODEL_ID.fullmatch(value):
        return None
    if not _LETTER.search(value) or "//" in value or ".." in value:
        return None  # a number, a URL or a path climbing out is not a model
    return value


def count(value: object) -> int | None:
    """A non-negative whole number (a token count, a duration, turns), or None.
    A float with nothing after the point is taken as the whole number it is."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and value >= 0 else None


def amount(value: object) -> float | None:
    """A non-negative finite amount (a cost in USD), or None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) and value >= 0 else None
