"""Redaction (SPEC 13): credentials disappear from what is stored, ordinary
text does not change. Table-driven cases for the shapes and the prose that
looks like them, and properties: every generated key of each shape, embedded
anywhere in any text, is gone; prose and telemetry stay as they were; redacting
twice changes nothing; `cap` keeps the head, the tail and the limit."""

from __future__ import annotations

import base64
import json
import string
from pathlib import Path

import pytest
from helpers.kb import CORPUS, EXAMPLE_KB, VENDOR_FORMATS, require_shared
from hypothesis import assume, example, given
from hypothesis import strategies as st

from commonplace.redaction import (
    DEBUG_LOG_LIMIT,
    REDACTED,
    Redacted,
    StreamRedactor,
    cap,
    redact,
    redact_json,
    secret_values,
)

ALNUM = string.ascii_letters + string.digits
UPPER_ALNUM = string.ascii_uppercase + string.digits
URLSAFE = ALNUM + "-_"


def chars(alphabet: str, size: int, max_size: int | None = None) -> st.SearchStrategy[str]:
    return st.text(
        alphabet=alphabet, min_size=size, max_size=size if max_size is None else max_size
    )


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@st.composite
def jwts(draw: st.DrawFn) -> str:
    header = {"alg": draw(st.sampled_from(["HS256", "RS256", "ES256"])), "typ": "JWT"}
    payload = {"sub": draw(chars(ALNUM, 4, 20)), "iat": draw(st.integers(0, 2**31))}
    signature = draw(st.binary(min_size=16, max_size=64))
    return ".".join(
        [
            b64url(json.dumps(header).encode()),
            b64url(json.dumps(payload).encode()),
            b64url(signature),
        ]
    )


@st.composite
def private_keys(draw: st.DrawFn, split: bool = False) -> tuple[str, str]:
    """A PEM private key; `split`: its header and footer broken across lines,
    spaced, or with JSON-escaped line ends, as logs and wrapped terminals do."""
    kind = draw(st.sampled_from(["", "RSA ", "EC ", "OPENSSH ", "ENCRYPTED ", "DSA "]))
    body = base64.b64encode(draw(st.binary(min_size=48, max_size=400))).decode("ascii")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    gap = draw(st.sampled_from(["\n", " ", "\r\n", "\\n", " \n  "])) if split else ""
    space = gap or " "
    begin = f"-----{gap}BEGIN {kind}PRIVATE{space}KEY{gap}-----"
    end = f"-----{gap}END {kind}PRIVATE{space}KEY{gap}-----"
    joiner = "\\n" if gap == "\\n" else "\n"
    return joiner.join([begin, *lines, end]), lines[0]


def prefixed(prefix: str, random: st.SearchStrategy[str]) -> st.SearchStrategy[tuple[str, str]]:
    """A key made of a prefix and a random part; the random part must go."""
    return random.map(lambda part: (prefix + part, part))


# A token in a header or an assignment: letters and digits, both.
token_values = chars(URLSAFE, 16, 64).filter(
    lambda v: any(c.isalpha() for c in v) and any(c.isdigit() for c in v)
)

# Each shape: (the text to embed, the secret part of it that must disappear).
SHAPES: dict[str, st.SearchStrategy[tuple[str, str]]] = {
    "anthropic": prefixed("sk-ant-api03-", chars(URLSAFE, 20, 100).map(lambda s: s + "AA")),
    "openai-project": prefixed("sk-proj-", chars(URLSAFE, 20, 150)),
    "github": prefixed("ghp_", chars(ALNUM, 36)),
    "aws": prefixed("AKIA", chars(UPPER_ALNUM, 16)),
    "google": prefixed("AIza", chars(URLSAFE, 35)),
    "slack": prefixed(
        "xoxb-",
        st.tuples(chars(string.digits, 10, 13), chars(string.digits, 10, 13), chars(ALNUM, 24)).map(
            "-".join
        ),
    ),
    "jwt": jwts().map(lambda token: (token, token.rsplit(".", 1)[1])),
    "private-key": private_keys(),
    "authorization-bearer": st.tuples(
        st.sampled_from(["Authorization", "authorization", "AUTHORIZATION"]),
        st.sampled_from(["Bearer", "bearer"]),
        token_values,
    ).map(lambda p: (f"{p[0]}: {p[1]} {p[2]}", p[2])),
    "x-api-key": st.tuples(
        st.sampled_from(["x-api-key", "X-Api-Key", "X-API-KEY"]), token_values
    ).map(lambda p: (f"{p[0]}: {p[1]}", p[1])),
    "env-assignment": st.tuples(
        st.sampled_from(["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "export MY_API_KEY"]),
        token_values,
    ).map(lambda p: (f"{p[0]}={p[1]}", p[1])),
    "json-access-token": token_values.map(lambda v: (f'"access_token": "{v}"', v)),
    "query-api-key": token_values.map(
        lambda v: (f"https://api.example.com/v1/items?api_key={v}&page=2", v)
    ),
    "aws-secret-access-key": st.tuples(
        st.sampled_from(
            [
                "AWS_SECRET_ACCESS_KEY=",
                "export AWS_SECRET_ACCESS_KEY=",
                "aws_secret_access_key = ",
                "aws_secret_access_key=",
                '"SecretAccessKey": "',
                "secret_access_key: ",
            ]
        ),
        chars(ALNUM + "/+", 40).filter(lambda v: any(c.isalpha() for c in v)),
    ).map(lambda p: (p[0] + p[1], p[1])),
    "url-credentials": st.tuples(
        st.sampled_from(["https", "postgres", "postgresql+psycopg", "redis", "amqp", "ftp"]),
        chars(ALNUM + "._-", 0, 12),
        chars(ALNUM + "!$*+-._~%", 6, 40),
        st.sampled_from(["db.example.com", "localhost:5432", "10.0.0.7", "[::1]:6379"]),
    )
    .filter(lambda p: any(c.isalpha() for c in p[2]))  # not a number found elsewhere
    .filter(lambda p: p[2] not in f"{p[0]}://{p[1]}" and p[2] not in p[3])  # the rest stays
    .map(lambda p: (f"{p[0]}://{p[1]}:{p[2]}@{p[3]}/x", p[2])),
    "stripe": st.tuples(
        st.sampled_from(["sk_live_", "rk_live_", "sk_test_", "whsec_"]), chars(ALNUM, 24, 99)
    ).map(lambda p: (p[0] + p[1], p[1])),
    "slack-webhook": st.tuples(
        st.sampled_from(["services", "workflows", "triggers"]),
        chars(UPPER_ALNUM, 9, 11),
        chars(UPPER_ALNUM, 9, 11),
        chars(ALNUM, 24),
    ).map(lambda p: (f"https://hooks.slack.com/{p[0]}/T{p[1]}/B{p[2]}/{p[3]}", p[3])),
    "slack-app-token": st.tuples(chars(string.digits, 10, 13), chars("abcdef0123456789", 64)).map(
        lambda p: (f"xapp-1-A{p[0]}-{p[0]}-{p[1]}", p[1])
    ),
    "github-fine-grained": prefixed("github_pat_11", chars(ALNUM + "_", 80)),
    "private-key-split-header": private_keys(split=True),
}

# What sits between a secret and the text around it: anything that ends a word.
separators = st.sampled_from(
    [" ", "\n", "\t", "  ", ". ", ", ", " (", ") ", ": ", '"', "'", "[", "]", "<", ">", " | "]
)


@st.composite
def embedded(draw: st.DrawFn, shape: st.SearchStrategy[tuple[str, str]]) -> tuple[str, str]:
    """Random text, a separator, the shape, a separator, random text; and the
    secret part (which the random text around it does not contain)."""
    text, secret = draw(shape)
    before, after = draw(st.text(max_size=120)), draw(st.text(max_size=120))
    assume(secret not in before and secret not in after)
    return before + draw(separators) + text + draw(separators) + after, secret


# --- every key of every shape disappears ----------------------------------------------------


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_every_generated_secret_of_each_shape_disappears(name: str) -> None:
    @given(embedded(SHAPES[name]))
    def check(case: tuple[str, str]) -> None:
        text, secret = case
        assert secret not in redact(text)

    check()


DOCUMENT_WORDS = (
    "tokens",
    "input",
    "output",
    "details",
    "log",
    "header",
    "note",
    "request",
    "done",
)


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_a_secret_disappears_from_every_string_of_a_json_document(name: str) -> None:
    @given(SHAPES[name], st.integers(0, 10**6))
    def check(shape: tuple[str, str], count: int) -> None:
        text, secret = shape
        document = {
            "tokens": {"input": count, "output": 80},
            "details": {"log": [f"request {text} done"], "header": text},
            "note": text,
        }
        # a short secret may be part of the document's own words ("detail")
        assume(not any(secret in word for word in DOCUMENT_WORDS))
        stored = json.dumps(redact_json(document))
        assert secret not in stored
        assert json.loads(stored)["tokens"] == {"input": count, "output": 80}

    check()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer sk-ant-api03-abcDEF123_-xyz", "Authorization: Bearer [REDACTED]"),
        ("authorization: Basic dXNlcjpwYXNzd29yZA==", "authorization: Basic [REDACTED]"),
        ('{"Authorization": "Bearer abc.def.ghi"}', '{"Authorization": "Bearer [REDACTED]"}'),
        ("curl -H 'x-api-key: abc123def456ghi'", "curl -H 'x-api-key: [REDACTED]'"),
        ("export OPENAI_API_KEY=abc123def456ghi", "export OPENAI_API_KEY=[REDACTED]"),
        ('OPENAI_API_KEY="abc123def456ghi"', 'OPENAI_API_KEY="[REDACTED]"'),
        ("OPENAI_API_KEY: abc123def456ghi", "OPENAI_API_KEY: [REDACTED]"),
        ('{"access_token": "ya29.a0AfH6SM"}', '{"access_token": "[REDACTED]"}'),
        ('{"secret": "hunter2hunter2"}', '{"secret": "[REDACTED]"}'),
        ("GET /v1?api_key=abc123def456&page=2", "GET /v1?api_key=[REDACTED]&page=2"),
        ("password: correct-horse-battery", "password: [REDACTED]"),
        ("db.password = s3cretpassw0rd", "db.password = [REDACTED]"),
        ("sent Bearer 1234abcdEFGH to it", "sent Bearer [REDACTED] to it"),
        ("key AKIAIOSFODNN7EXAMPLE here", "key [REDACTED] here"),
        ("ASIAIOSFODNN7EXAMPLE", REDACTED),
        ("ghp_" + "a" * 36, REDACTED),
        ("github_pat_" + "B1_" * 10, REDACTED),
        ("glpat-" + "c" * 20, REDACTED),
        ("hf_" + "d" * 34, REDACTED),
        ("npm_" + "e" * 36, REDACTED),
        ("sk-" + "f1" * 24, REDACTED),
        ("sk-svcacct-abcdefgh12345", REDACTED),
        ("xoxp-1234-5678-abcd", REDACTED),
        ("AIza" + "G" * 35, REDACTED),
        (
            "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "AWS_SECRET_ACCESS_KEY=[REDACTED]",
        ),
        (
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG+bPxRfiCY",
            "aws_secret_access_key = [REDACTED]",
        ),
        ('{"SecretAccessKey": "wJalrXUtnFEMI/K7MDENG"}', '{"SecretAccessKey": "[REDACTED]"}'),
        ("postgres://admin:s3cr3t!pw@db:5432/x", "postgres://admin:[REDACTED]@db:5432/x"),
        ("redis://:hunter2hunter2@cache", "redis://:[REDACTED]@cache"),
        (
            "git clone https://x-access-token:abc123@github.com/o/r",
            "git clone https://x-access-token:[REDACTED]@github.com/o/r",
        ),
        ("sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc", REDACTED),
        ("rk_live_" + "4eC39HqLyjWDarjtT1zdp7dc", REDACTED),
        ("whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", REDACTED),
        (
            "https://hooks.slack.com/services/T0001/B0002/XXXXXXXXXXXXXXXXXXXXXXXX",
            "https://hooks.slack.com/services/[REDACTED]",
        ),
        ("xapp-1-A0123456789-1234567890123-abcdef0123456789", REDACTED),
        ("xoxe.xoxp-1-Mi0yLTEyMzQ1Njc4OTAtMTIz", REDACTED),
        ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", REDACTED),
        ("AIzaSyA-1234567890abcdefghijklmnopqrstu", REDACTED),
        (
            "-----BEGIN RSA PRIVATE\nKEY-----\nMIIEow\n-----END RSA PRIVATE\nKEY-----\nafter",
            f"{REDACTED}\nafter",
        ),
        ("----- BEGIN PRIVATE KEY -----\nMIIEow\n----- END PRIVATE KEY -----", REDACTED),
        (
            '"-----BEGIN PRIVATE KEY-----\\nMIIEow\\n-----END PRIVATE KEY-----\\n"',
            f'"{REDACTED}\\n"',
        ),
    ],
)
def test_known_credentials(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_a_private_key_block_goes_whole_and_the_text_after_it_stays() -> None:
    text = (
        "before\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
        "AAAABG5vbmU=\n-----END OPENSSH PRIVATE KEY-----\nafter"
    )
    assert redact(text) == f"before\n{REDACTED}\nafter"


def test_a_private_key_cut_off_before_its_end_goes_to_the_end_of_the_text() -> None:
    text = "log:\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nMIIEv"
    assert redact(text) == f"log:\n{REDACTED}"


# --- the values of the environment's secret-looking variables ------------------------------


def test_secret_values_are_the_long_enough_values_of_secret_looking_names() -> None:
    env = {
        "MY_SERVICE_TOKEN": "plainvalue123",
        "ANTHROPIC_API_KEY": "another-long-value",
        "DB_PASSWORD": "correcthorse",
        "GITHUB_AUTH": "authvalue1",
        "AWS_SECRET_ACCESS_KEY": "plainvalue123",  # the same value once
        "SHORT_TOKEN": "abc",  # too short to replace everywhere
        "BLANK_SECRET": "        ",
        "PATH": "/usr/local/bin:/usr/bin",
        "HOME": "/home/someone",
        "LANG": "en_US.UTF-8",
    }
    assert secret_values(env) == (
        "another-long-value",
        "plainvalue123",
        "correcthorse",
        "authvalue1",
    )


def test_an_environment_value_is_redacted_whatever_its_shape() -> None:
    values = secret_values({"MY_TOKEN": "p@ss.w*rd(1)+", "X_SECRET": "zzzzzzzzzz"})
    text = "connected with p@ss.w*rd(1)+ and zzzzzzzzzzz"
    assert redact(text, values) == f"connected with {REDACTED} and {REDACTED}z"


def test_a_value_containing_another_is_replaced_whole() -> None:
    values = secret_values({"A_TOKEN": "abcdefgh", "B_TOKEN": "abcdefgh12345678"})
    assert redact("x abcdefgh12345678 y abcdefgh", values) == f"x {REDACTED} y {REDACTED}"


def test_a_value_with_surrounding_whitespace_is_redacted_without_it() -> None:
    values = secret_values({"MY_TOKEN": "plainvalue123\r\n"})
    assert redact("token is plainvalue123 here", values) == f"token is {REDACTED} here"


@given(
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Z", "Cc")), min_size=8),
    st.text(max_size=100),
    separators,
    st.text(max_size=100),
)
def test_any_environment_value_disappears_from_any_text(
    value: str, before: str, separator: str, after: str
) -> None:
    assume(value not in REDACTED)
    values = secret_values({"MY_SERVICE_TOKEN": value})
    assert value not in redact(before + separator + value + separator + after, values)


# --- what must stay as it is ---------------------------------------------------------------

PROSE = [
    "the secret: understanding",
    "The secret: understanding the gate before the note.",
    "a bearer instrument",
    "bearer bonds and bearer instruments",
    "Bearer of bad news, again.",
    "The token: a word the model reads.",
    "the token count: 12000",
    "tokens: 12345678",
    "The key: understanding",
    "see the api_key docs",
    "secret_santa = everyone",
    "password = hunter2",
    "Authorization is required for every request.",
    "The password-protected drive was lost.",
    "sk-learn is a library; task-ant-colony is a word.",
    "max_tokens=4096 and tokens=120000",
    "access_token: {{ TOKEN }}",
    "A frost date is an average, not a promise (see AKIA for nothing).",
    "Seed packets list days to maturity: 55-60 days.",
    "A cheque is a bearer instrument.",
    "index_key: agent-memory",
    "Keep primary_key: customer_id in the table note.",
    "It was stamped top-secret: everything inside was old.",
    "Served at http://localhost:8080/notes and https://example.com:443/a?b=c#d.",
    "Clone git@github.com:owner/repo.git or ssh://git@github.com/owner/repo.",
    "mailto:someone@example.com and https://user@example.com/path",
    "http://[::1]:8080/ and https://example.com/@handle",
    "The secret access key is kept in the vault.",
    "Stripe keys start sk_live_ or sk_test_; see the docs.",
    "Slack posts to hooks.slack.com/services/ URLs.",
    "A PRIVATE KEY is never committed; BEGIN with the public one.",
]


@pytest.mark.parametrize("text", PROSE)
def test_prose_that_looks_like_a_credential_stays(text: str) -> None:
    assert redact(text) == text


WORDS = [
    "the", "a", "note", "gate", "review", "secret", "secrets", "token", "tokens",
    "key", "keys", "api", "credentials", "understanding", "instrument", "passwords",
    "Secret", "Token", "Key", "frost", "dates", "are", "averages", "sk", "ant",
    "AKIA", "eyJ", "ghp", "1200", "42", "2024-05-01",
]  # fmt: skip
prose = st.lists(
    st.tuples(st.sampled_from(WORDS), st.sampled_from(["", ",", ";", ":", ".", "?", "!"])),
    max_size=60,
).map(lambda words: " ".join(word + mark for word, mark in words))


@given(prose)
def test_ordinary_prose_stays(text: str) -> None:
    assert redact(text) == text


TOKEN_KEYS = [
    "input_tokens", "output_tokens", "cache_read_input_tokens",
    "cache_creation_input_tokens", "reasoning_tokens", "total_tokens", "max_tokens",
    "token_count", "tokens", "num_turns", "duration_ms",
]  # fmt: skip
telemetry = st.tuples(
    st.dictionaries(st.sampled_from(TOKEN_KEYS), st.one_of(st.integers(0, 10**9), st.none())),
    st.floats(0, 100, allow_nan=False),
).map(
    lambda parts: {
        "schema": "commonplace.telemetry/1",
        "model": "claude-sonnet-4-5-20250929",
        "session_id": "3f2a9c1e-7b4d-4e8a-9f0c-2d6b1a5e8c7f",
        "cost_usd": parts[1],
        "usage": parts[0],
        "modelUsage": {"claude-sonnet-4-5-20250929": parts[0]},
    }
)


@given(telemetry)
def test_telemetry_with_token_counts_stays(document: dict[str, object]) -> None:
    assert redact_json(document) == document
    text = json.dumps(document)
    assert redact(text) == text


def test_redact_json_keeps_structure_and_non_strings() -> None:
    document = {
        "n": 1,
        "f": 0.5,
        "b": True,
        "none": None,
        "list": ["Bearer 1234abcdEFGH", 3],
        "tuple": ("x", "y"),
        "nested": {"deeper": {"header": "Authorization: Bearer abc"}},
    }
    assert redact_json(document) == {
        "n": 1,
        "f": 0.5,
        "b": True,
        "none": None,
        "list": [f"Bearer {REDACTED}", 3],
        "tuple": ["x", "y"],
        "nested": {"deeper": {"header": f"Authorization: Bearer {REDACTED}"}},
    }
    assert redact_json("MY plainvalue123", ["plainvalue123"]) == f"MY {REDACTED}"


def test_redact_json_redacts_keys_too() -> None:
    key = "sk-proj-abcdefgh12345678"
    assert key not in json.dumps(redact_json({"usage_by_key": {key: 1200}}))


def _texts(*roots: Path) -> list[Path]:
    return sorted(p for root in roots for p in root.rglob("*") if p.is_file() and p.suffix)


def test_the_example_kb_is_unchanged_by_redaction() -> None:
    for path in _texts(EXAMPLE_KB):
        text = path.read_text(encoding="utf-8")
        assert redact(text) == text, path


@pytest.mark.corpus
def test_the_corpus_notes_and_gates_are_unchanged_by_redaction() -> None:
    for path in _texts(require_shared(CORPUS)):
        if path.suffix == ".md":
            text = path.read_text(encoding="utf-8")
            assert redact(text) == text, path


def test_the_streams_the_vendor_clis_print_are_unchanged_by_redaction() -> None:
    for path in _texts(require_shared(VENDOR_FORMATS)):
        text = path.read_text(encoding="utf-8")
        assert redact(text) == text, path


# --- idempotence -------------------------------------------------------------------------

# Pieces that make redaction work hard next to each other.
PIECES = [
    " ", "\n", "=", ": ", ":", '"', "'", ",", ";", "&", ".", "-", "_", "/", "[REDACTED]",
    "Bearer", "bearer", "Authorization", "Basic", "token", "secret", "password",
    "api_key", "x-api-key", "apikey", "credentials", "OPENAI_API_KEY", "sk-ant-",
    "sk-proj-", "sk-", "ghp_", "AKIA", "AIza", "xoxb-", "eyJ", "abcdefgh",
    "12345678", "ABCDEFGHIJKLMNOP", "-----BEGIN PRIVATE KEY-----",
    "-----END PRIVATE KEY-----", "-----BEGIN RSA PRIVATE KEY-----", "PRIVATE", " KEY",
    "-----", "https://", "user:", "@host", "sk_live_", "AWS_SECRET_ACCESS_KEY=",
    "hooks.slack.com/services/", "xapp-", "xoxe.",
]  # fmt: skip
soup = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=5)), max_size=40).map("".join)


@given(st.one_of(soup, st.text()))
def test_redacting_twice_changes_nothing(text: str) -> None:
    once = redact(text)
    assert redact(str(once)) == once  # a plain copy: a `Redacted` is given back as it is


def test_a_redacted_text_is_given_back_and_what_is_made_from_it_is_redacted_again() -> None:
    secret = "sk-" + "a1B2" * 8
    once = redact(f"key {secret} here")
    assert isinstance(once, Redacted) and secret not in once
    assert redact(once) is once
    # with secret values to take out, a redacted text is looked at again
    assert redact(once, ["here"]) == f"key {REDACTED} {REDACTED}"
    # slices and sums are plain strings: redacted in full
    joined = once + " " + secret
    assert type(joined) is str
    assert redact(joined) == f"key {REDACTED} here {REDACTED}"
    assert type(once[:3]) is str and type(str(once)) is str


# Two rules take the value of `Authorization: Bearer X)`: the bearer rule stops
# before `)`, the authorization rule after it; the shorter one wins, and the
# next pass takes `[REDACTED])` whole.
BEARER_THEN_PAREN = ("see Authorization: Bearer abc123def456) here", "abc123def456")


@pytest.mark.parametrize(
    "name",
    sorted(SHAPES),
)
def test_redacting_an_embedded_secret_twice_changes_nothing(name: str) -> None:
    def twice_is_once(case: tuple[str, str]) -> None:
        once = redact(case[0])
        assert redact(str(once)) == once

    check = given(embedded(SHAPES[name]))(twice_is_once)
    if name == "authorization-bearer":  # the known failure, found on every run
        check = example(BEARER_THEN_PAREN)(check)
    check()


# --- a stream redacted piece by piece ------------------------------------------------------


def streamed(text: str, secrets: tuple[str, ...] = (), pieces: list[int] | None = None) -> str:
    """`text` through a StreamRedactor, line by line, or cut at `pieces`."""
    redactor = StreamRedactor(secrets)
    if pieces is None:
        parts = text.splitlines(keepends=True)
    else:
        cuts = sorted({min(max(c, 0), len(text)) for c in pieces})
        parts = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    return "".join(redactor.feed(part) for part in parts) + redactor.flush()


@given(prose, private_keys(split=True) | private_keys(), prose, st.lists(st.integers(0, 2000)))
def test_a_private_key_split_over_pieces_of_a_stream_disappears(
    before: str, key: tuple[str, str], after: str, cuts: list[int]
) -> None:
    block, secret = key
    assume(secret not in before and secret not in after)
    text = f"{before}\n{block}\n{after}\n"
    for out in (streamed(text), streamed(text, pieces=cuts)):
        assert secret not in out
    assert streamed(text).endswith(f"{after}\n")  # what follows the key is kept


lines_of_prose = st.lists(
    prose | st.sampled_from(["---", "-----", "--- stderr ---", "BEGIN", "-----BEGIN", ""]),
    max_size=12,
).map(lambda lines: "".join(f"{line}\n" for line in lines))


@given(lines_of_prose)
def test_a_stream_of_prose_passes_unchanged(text: str) -> None:
    assert streamed(text) == text


def test_a_stream_is_redacted_like_the_whole_text_line_by_line() -> None:
    text = "x\nAuthorization: Bearer abc123def456\nsecret value plainvalue123\n"
    assert streamed(text, ("plainvalue123",)) == redact(text, ("plainvalue123",))


def test_a_key_cut_off_in_a_stream_takes_the_rest_of_it() -> None:
    text = "log\n-----BEGIN PRIVATE\nKEY-----\nMIIEvQIBADANBg\nMIIEv"
    assert streamed(text) == f"log\n{REDACTED}"


@pytest.mark.parametrize(
    "text",
    [
        "-----BEGIN " + "QUJD" * 500 + "x",
        "-----BEGIN RSA " + "A" * 3000 + " KEY---",
        "----- BEGIN " + "AB CD " * 500 + "PRIVATE",
        "-----END " + "Z" * 3000,
    ],
)
def test_runs_of_capitals_after_a_header_do_not_make_redaction_backtrack(text: str) -> None:
    # exponential backtracking would not finish; linear takes microseconds
    assert redact(text) == text
    assert streamed(text) == text
    assert streamed(text, pieces=list(range(0, len(text), 7))) == text


# --- cap ---------------------------------------------------------------------------------


def test_the_debug_log_limit_is_256_kib() -> None:
    assert DEBUG_LOG_LIMIT == 256 * 1024
    text = "x" * DEBUG_LOG_LIMIT
    assert cap(text) == text
    longer = "h" * DEBUG_LOG_LIMIT + "t" * DEBUG_LOG_LIMIT
    capped = cap(longer)
    assert capped.startswith("h" * (DEBUG_LOG_LIMIT // 2))
    assert capped.endswith("t" * (DEBUG_LOG_LIMIT // 2))
    assert len(capped) < DEBUG_LOG_LIMIT + 100


@given(st.text(max_size=300), st.integers(2, 400))
def test_cap_keeps_head_tail_and_limit(text: str, limit: int) -> None:
    capped = cap(text, limit)
    if len(text) <= limit:
        assert capped == text
        return
    head, tail = limit // 2, limit - limit // 2
    marker = f"\n[... {len(text) - limit} characters left out ...]\n"
    assert capped == text[:head] + marker + text[len(text) - tail :]
    assert len(capped) - len(marker) == limit


def test_cap_to_one_character_keeps_at_most_one() -> None:
    capped = cap("abcdef", 1)
    assert "abcdef" not in capped
