"""Store URLs (store/location.py), as properties: a masked URL shows nothing of its
password, wherever the password is and however it is encoded; taking the `schema`
parameter out leaves every libpq parameter as libpq reads it (libpq itself, through
psycopg's `conninfo_to_dict`, is the judge)."""

from __future__ import annotations

import string
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st
from psycopg.conninfo import conninfo_to_dict

from commonplace.errors import UserError
from commonplace.store.location import (
    DEFAULT_SCHEMA,
    has_password,
    masked,
    passwords,
    scrubbed,
    split_url,
)

# Characters a user part may hold unencoded (RFC 3986 unreserved and sub-delims, and
# `:` in a password); every other one is percent-encoded when the URL is built.
USERINFO_SAFE = string.ascii_letters + string.digits + "-._~!$&'()*+,;="
# libpq takes `+` in a query value as itself, not as a space.
QUERY_SAFE = string.ascii_letters + string.digits + "-._~!$'()*+,;:@/?"
LIBPQ_KEYS = (
    "application_name",
    "fallback_application_name",
    "options",
    "sslmode",
    "connect_timeout",
    "target_session_attrs",
    "keepalives_idle",
    "sslrootcert",
    "krbsrvname",
    "passfile",
)
HOSTS = ("127.0.0.1", "db.example.org", "[::1]", "h1:5432,h2:5433", "", "localhost:6543")

# A password starts with a character no other part of the URL holds, so that any
# trace of it, raw or percent-encoded, can be looked for in what is shown.
MARK = "\u2603"
ENCODED_MARK = quote(MARK)
texts = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00" + MARK))
secrets = texts.map(lambda text: MARK + text)
encodings = st.sampled_from(["all", "some"])
schemas = st.from_regex(r"[a-z_][a-z0-9_]{0,62}", fullmatch=True)
params = st.lists(st.tuples(st.sampled_from(LIBPQ_KEYS), texts), max_size=4)


def encode(text: str, how: str, safe: str) -> str:
    return quote(text, safe="" if how == "all" else safe)


def url(
    *,
    user: str,
    password: str | None,
    host: str,
    dbname: str,
    pieces: list[tuple[str, str]],
    how: str,
    in_query: str | None = None,
) -> str:
    """A URL as a user would write it, its parts percent-encoded (all of each,
    or only what must be); `in_query` is a `password` parameter."""
    auth = quote(user, safe="")
    if password is not None:
        auth += ":" + encode(password, how, USERINFO_SAFE + ":")
    every = [f"{key}={encode(value, how, QUERY_SAFE)}" for key, value in pieces]
    if in_query is not None:
        every.append(f"password={encode(in_query, how, QUERY_SAFE)}")
    text = f"postgresql://{auth}@{host}/{quote(dbname, safe='')}"
    return text + ("?" + "&".join(every) if every else "")


@given(
    user=texts,
    first=secrets,
    second=secrets,
    host=st.sampled_from(HOSTS),
    dbname=texts,
    pieces=params,
    how=encodings,
    where=st.sampled_from(["user part", "parameter", "both"]),
)
def test_a_masked_url_shows_nothing_of_its_password(
    user: str,
    first: str,
    second: str,
    host: str,
    dbname: str,
    pieces: list[tuple[str, str]],
    how: str,
    where: str,
) -> None:
    def built(password: str) -> str:
        return url(
            user=user,
            password=password if where != "parameter" else None,
            host=host,
            dbname=dbname,
            pieces=pieces,
            how=how,
            in_query=password if where != "user part" else None,
        )

    shown = masked(built(first))
    assert MARK not in shown and ENCODED_MARK not in shown.upper()
    assert "***" in shown
    # The masked URL is the same whatever the password: nothing of it shows.
    assert shown == masked(built(second))
    # The password, as written and decoded, is among those a message is cleaned of.
    assert first in passwords(built(first)) and has_password(built(first))
    message = f'libpq: bad value "{first}" in {built(first)}'
    assert MARK not in scrubbed(message, built(first))


@given(
    user=texts,
    password=st.none() | secrets,
    host=st.sampled_from(HOSTS),
    dbname=texts,
    pieces=params,
    how=encodings,
    schema=schemas,
    at=st.integers(min_value=0),
)
def test_split_url_keeps_every_libpq_parameter_but_the_schema(
    user: str,
    password: str | None,
    host: str,
    dbname: str,
    pieces: list[tuple[str, str]],
    how: str,
    schema: str,
    at: int,
) -> None:
    common = {"user": user, "password": password, "host": host, "dbname": dbname, "how": how}
    plain = url(pieces=pieces, **common)  # type: ignore[arg-type]
    position = at % (len(pieces) + 1)
    with_schema = url(
        pieces=[*pieces[:position], ("schema", schema), *pieces[position:]],
        **common,  # type: ignore[arg-type]
    )
    for_libpq, chosen = split_url(with_schema, None, "--db")
    assert chosen == schema
    assert conninfo_to_dict(for_libpq) == conninfo_to_dict(plain)
    # Without a schema parameter the URL is passed on as written.
    assert split_url(plain, "mine", "--db") == (plain, "mine")


def test_the_schema_parameter_wins_over_the_setting_and_the_default() -> None:
    base = "postgresql://u@h/db"
    assert split_url(base, None, "x") == (base, DEFAULT_SCHEMA)
    assert split_url(base, "kb_one", "x") == (base, "kb_one")
    assert split_url(f"{base}?schema=kb_two", "kb_one", "x") == (base, "kb_two")
    assert split_url(f"{base}?schema=a&sch%65ma=b", None, "x") == (base, "b")


@pytest.mark.parametrize(
    "text",
    [
        "postgresql://u:a@b@h/db",  # libpq ends the user part at the first @
        "postgresql://u:a/b@h/db",  # and a / ends it before any @
        "postgresql://u:a?b@h/db",
        "postgresql://u:a#b@h/db",
        "postgresql://h?user=a@b",  # libpq reads `h?user=a` as a user name
        "postgresql://u@h:99999/db",
        "postgresql://u@h1:5432,h2:port/db",
    ],
)
def test_urls_libpq_would_read_otherwise_are_refused(text: str) -> None:
    with pytest.raises(UserError, match="--db: not a valid PostgreSQL URL") as refused:
        split_url(text, None, "--db")
    assert ":a" not in refused.value.message


def test_the_scheme_is_given_to_libpq_in_lowercase() -> None:
    assert split_url("PostgreSQL://u@h/db", None, "x")[0] == "postgresql://u@h/db"
    assert conninfo_to_dict(split_url("POSTGRES://u@h/db", None, "x")[0])["host"] == "h"


def test_what_libpq_reads_as_it_is_is_accepted() -> None:
    for text in (
        "postgresql://u@h1:5432,h2:5433/db",
        "postgresql:///db?host=/var/run/postgresql",
        "postgresql://h/db?user=a@b&options=-c%20search_path%3Dx",
        "postgresql://u@h?options=x@y/z",
        "postgresql:///?service=team",
    ):
        assert split_url(text, None, "--db")[0] == text
