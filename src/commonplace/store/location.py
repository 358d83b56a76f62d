"""Where a review store is: a SQLite file, or a schema on a PostgreSQL server.

A PostgreSQL store is named by a libpq URL (`postgresql://user@host/db`);
the password belongs in `PGPASSWORD`, `~/.pgpass` or a service file, and a
URL that carries one is only ever shown masked. The schema comes from the
URL's own `schema` parameter (ours, taken out before libpq sees the URL),
else from the `schema` setting, else `DEFAULT_SCHEMA`.

URLs are read here the way libpq reads them, not the way `urllib` does: the
user part ends at the first `@` before any `/`, the query is split on `&`
only, and only `%XX` is decoded (a `+` stays a `+`). A URL that the two would
read differently (a raw `@`, `/`, `?` or `#` in a password) is refused, so
that what is masked is always what libpq takes for the password.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from commonplace.errors import UserError

URL_SCHEMES = ("postgresql://", "postgres://")
DEFAULT_SCHEMA = "commonplace_review"
HIDDEN = "***"
MALFORMED = "<a malformed URL>"
_SCHEMA = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def is_url(text: str) -> bool:
    return text.strip().lower().startswith(URL_SCHEMES)


def check_schema(schema: str, where: str) -> str:
    if not _SCHEMA.fullmatch(schema):
        raise UserError(
            f"{where}: schema must be a lowercase name of letters, digits and _"
            f" (at most 63, not starting with a digit), not {schema[:80]!r}"
        )
    return schema


def split_url(url: str, schema: str | None, where: str) -> tuple[str, str]:
    """(the URL for libpq, the schema): the URL's `schema` parameter wins.
    Every other parameter is passed on exactly as written."""
    scheme, sep, rest = url.strip().partition("://")
    text = scheme.lower() + sep + rest  # libpq knows its schemes in lowercase only
    problem = _ambiguity(text)
    if problem is None:
        problem = _bad_port(text)
    if problem is not None:
        raise UserError(f"{where}: not a valid PostgreSQL URL ({problem}): {masked(text)}")
    base, mark, query = text.partition("?")
    pieces = query.split("&") if mark else []
    named = [unquote(p.partition("=")[2]) for p in pieces if _key(p) == "schema"]
    kept = [p for p in pieces if _key(p) != "schema"]
    chosen = named[-1] if named else schema or DEFAULT_SCHEMA
    return base + ("?" + "&".join(kept) if kept else ""), check_schema(chosen, where)


def masked(url: str) -> str:
    """The URL with its password (in the user part or as a `password`
    parameter) replaced by `***`; a text that is no URL as it is."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    if _path_has_at(rest):
        return MALFORMED  # a raw `/` in a password: no telling where it ends
    userinfo = _userinfo(rest)
    colon = userinfo.find(":")
    if colon >= 0:
        rest = f"{userinfo[: colon + 1]}{HIDDEN}{rest[len(userinfo) :]}"
    base, mark, query = rest.partition("?")
    if mark:
        pieces = [
            f"{p.partition('=')[0]}={HIDDEN}" if _key(p) == "password" else p
            for p in query.split("&")
        ]
        rest = f"{base}?{'&'.join(pieces)}"
    return f"{scheme}://{rest}"


def passwords(url: str) -> list[str]:
    """Every password the URL carries, as written and decoded, longest first
    (for taking them out of a message that may quote them)."""
    rest = url.strip().partition("://")[2]
    found = {userinfo.partition(":")[2] for userinfo in _userinfos(rest) if ":" in userinfo}
    query = rest[len(_userinfo(rest)) :].partition("?")[2]
    found.update(p.partition("=")[2] for p in query.split("&") if _key(p) == "password")
    found |= {unquote(value) for value in found}
    return sorted((value for value in found if value), key=len, reverse=True)


def has_password(url: str) -> bool:
    return bool(passwords(url))


def scrubbed(text: str, url: str) -> str:
    """`text` (a driver's message) without any password of `url` in it."""
    for secret in passwords(url):
        text = text.replace(secret, HIDDEN)
    return text


def _key(piece: str) -> str:
    """The name of one `key=value` query parameter, decoded as libpq does."""
    return unquote(piece.partition("=")[0])


def _userinfos(rest: str) -> list[str]:
    """The user part of the text after `scheme://` as each reader takes it:
    libpq (up to the first `@` met before any `/`), `urllib` (up to the last
    `@` before the first `/`, `?` or `#`), and a reader who sees a raw `?`
    or `@` in a password (up to the last `@` before the first `/`). Empty
    when a reader sees none."""
    first = re.search(r"[@/]", rest)
    found = [rest[: first.start()] if first is not None and first.group() == "@" else ""]
    netloc = re.split(r"[/?#]", rest, maxsplit=1)[0]
    found.append(netloc.rpartition("@")[0])
    slash = rest.find("/")
    found.append(rest[: max(rest.rfind("@", 0, len(rest) if slash < 0 else slash), 0)])
    return found


def _userinfo(rest: str) -> str:
    """The longest reading of the user part: all of it is masked."""
    return max(_userinfos(rest), key=len)


def _path_has_at(rest: str) -> bool:
    """An `@` in the path, where none belongs: a password with a raw `/`."""
    slash, query = rest.find("/"), rest.find("?")
    if slash < 0 or 0 <= query < slash:
        return False
    return "@" in rest[slash:].partition("?")[0]


def _ambiguity(text: str) -> str | None:
    """Why libpq and `urllib` would split this URL differently, if they would."""
    rest = text.partition("://")[2]
    if _path_has_at(rest):
        return "an @ after a /; write / in a user name or password as %2F, @ as %40"
    libpq, python, _ = _userinfos(rest)
    if libpq != python:
        return (
            "libpq would end its user part elsewhere; write @ ? # / in a user name or"
            " password as %40 %3F %23 %2F"
        )
    return None


def _bad_port(text: str) -> str | None:
    """A port that is no number, said now rather than deep in libpq. Each
    host of a multi-host URL (`h1:5432,h2:5433`) is checked on its own."""
    rest = text.partition("://")[2]
    netloc = re.split(r"[/?#]", rest[len(_userinfo(rest)) :].lstrip("@"), maxsplit=1)[0]
    for host in netloc.split(","):
        try:
            _ = urlsplit(f"//{host}").port
        except ValueError as exc:
            return str(exc)
    return None
