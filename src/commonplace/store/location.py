"""Where a review store is: a SQLite file, or a schema on a PostgreSQL server.

A PostgreSQL store is named by a libpq URL (`postgresql://user@host/db`);
the password belongs in `PGPASSWORD`, `~/.pgpass` or a service file, and a
URL that carries one is only ever shown masked. The schema comes from the
URL's own `schema` parameter (ours, taken out before libpq sees the URL),
else from the `schema` setting, else `DEFAULT_SCHEMA`.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from commonplace.errors import UserError

URL_SCHEMES = ("postgresql://", "postgres://")
DEFAULT_SCHEMA = "commonplace_review"
_SCHEMA = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def is_url(text: str) -> bool:
    return text.strip().lower().startswith(URL_SCHEMES)


def check_schema(schema: str, where: str) -> str:
    if not _SCHEMA.fullmatch(schema):
        raise UserError(
            f"{where}: schema must be a lowercase name of letters, digits and _"
            f" (at most 63, not starting with a digit), not {schema!r}"
        )
    return schema


def split_url(url: str, schema: str | None, where: str) -> tuple[str, str]:
    """(the URL for libpq, the schema): the URL's `schema` parameter wins."""
    try:
        parts = urlsplit(url.strip())
        query = parse_qsl(parts.query, keep_blank_values=True)
        _ = parts.port  # a malformed port raises here, not deep in libpq
    except ValueError as exc:
        raise UserError(f"{where}: not a valid PostgreSQL URL ({exc}): {masked(url)}") from None
    named = [value for key, value in query if key == "schema"]
    rest = [(key, value) for key, value in query if key != "schema"]
    chosen = named[-1] if named else schema or DEFAULT_SCHEMA
    return urlunsplit(parts._replace(query=urlencode(rest))), check_schema(chosen, where)


def masked(url: str) -> str:
    """The URL with its password (in the user part or as a `password`
    parameter) replaced by `***`."""
    try:
        parts = urlsplit(url)
        password = parts.password
        query = parse_qsl(parts.query, keep_blank_values=True)
    except ValueError:
        return "<a malformed URL>"
    if password is not None:
        user = parts.username or ""
        parts = parts._replace(netloc=f"{user}:***@{parts.netloc.rpartition('@')[2]}")
    if any(key == "password" for key, _ in query):
        hidden = [(key, "***" if key == "password" else value) for key, value in query]
        parts = parts._replace(query=urlencode(hidden, safe="*"))
    return urlunsplit(parts)


def has_password(url: str) -> bool:
    try:
        parts = urlsplit(url)
        return parts.password is not None or any(
            key == "password" for key, _ in parse_qsl(parts.query, keep_blank_values=True)
        )
    except ValueError:
        return False
