"""Keeping secrets out of what is stored (SPEC 13): runner output, debug
logs, telemetry and artifacts pass through `redact` before they are written.

Two nets: the shapes of common credentials (vendor API keys, bearer tokens,
`Authorization` headers, `*_API_KEY=...` assignments, private keys, JWTs),
and the exact values of the secret-looking variables of the environment a
runner was given, whatever their shape.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "[REDACTED]"
DEBUG_LOG_LIMIT = 256 * 1024  # characters of one stored debug log

# Credentials recognisable by their shape alone.
_SHAPES = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)"
    r"|\bsk-ant-[A-Za-z0-9_-]{8,}"
    r"|\bsk-(?:proj|svcacct|admin|or-v1)-[A-Za-z0-9_-]{8,}"
    r"|\bsk-[A-Za-z0-9]{20,}"
    r"|\bgh[pousr]_[A-Za-z0-9]{20,}"
    r"|\bgithub_pat_[A-Za-z0-9_]{20,}"
    r"|\bglpat-[A-Za-z0-9_-]{20,}"
    r"|\bxox[abposr]-[A-Za-z0-9-]{10,}"
    r"|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"
    r"|\bAIza[0-9A-Za-z_-]{30,}"
    r"|\b(?:hf|npm)_[A-Za-z0-9]{30,}"
    r"|\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
    re.DOTALL,
)
# A header or an assignment whose name says it holds a credential: the name
# and the separator stay, the value goes. A bare word before a colon ("the
# secret: ...") is prose, so a colon counts only after a compound or quoted name.
_VALUE = r"(?=[^\s\"',;&]*[A-Za-z])[^\s\"',;&]{8,}"
_WORDS = r"(?:api[_-]?key|secret|token|password|passwd|credentials?)"
_NAMED = re.compile(
    r"(?i)(\bauthorization[\"']?\s*[:=]\s*[\"']?(?:(?:bearer|basic|token)\s+)?)[^\s\"',;]+"
    r"|((?-i:\b[Bb]earer)\s+)(?=[A-Za-z0-9._~+/=-]*[0-9._~+/=-])[A-Za-z0-9._~+/=-]{8,}"
    rf"|(\b[A-Za-z0-9_.-]*{_WORDS}[\"']?\s*=\s*[\"']?){_VALUE}"
    rf"|(\b[A-Za-z0-9_.-]*[_.-]{_WORDS}[\"']?\s*:\s*[\"']?){_VALUE}"
    rf"|([\"']{_WORDS}[\"']\s*:\s*[\"']?){_VALUE}"
    rf"|(\b(?:apikey|password|passwd)\s*:\s*){_VALUE}"
)
_SECRET_NAME = re.compile(r"(?i)key|token|secret|password|passwd|credential|auth")
_MIN_SECRET = 8


def secret_values(env: Mapping[str, str]) -> tuple[str, ...]:
    """The values of the variables whose names look like they hold secrets,
    longest first (so a value containing another is replaced whole)."""
    values = {v for k, v in env.items() if _SECRET_NAME.search(k) and len(v.strip()) >= _MIN_SECRET}
    return tuple(sorted(values, key=len, reverse=True))


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every credential replaced by `[REDACTED]`."""
    for value in secrets:
        if value in text:
            text = text.replace(value, REDACTED)
    text = _SHAPES.sub(REDACTED, text)
    return _NAMED.sub(_keep_name, text)


def redact_json(value: Any, secrets: Iterable[str] = ()) -> Any:
    """A JSON-like value with every string in it redacted."""
    secrets = tuple(secrets)
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, Mapping):
        return {k: redact_json(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_json(v, secrets) for v in value]
    return value


def cap(text: str, limit: int = DEBUG_LOG_LIMIT) -> str:
    """The head and the tail of a text longer than `limit` characters."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[... {len(text) - 2 * half} characters left out ...]\n{text[-half:]}"


def _keep_name(match: re.Match[str]) -> str:
    kept = next((g for g in match.groups() if g is not None), "")
    return kept + REDACTED
