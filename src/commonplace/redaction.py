"""Keeping secrets out of what is stored (SPEC 13): runner output, debug
logs, telemetry and artifacts pass through `redact` before they are written.

Two nets: the shapes of common credentials (vendor API keys, bearer tokens,
`Authorization` headers, `*_API_KEY=...` assignments, private keys, JWTs),
and the exact values of the secret-looking variables of the environment a
runner was given, whatever their shape.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import overload

REDACTED = "[REDACTED]"
DEBUG_LOG_LIMIT = 256 * 1024  # characters of one stored debug log


class _Lazy:
    """A pattern compiled when first used: most texts hold none of a rule's
    literals, so most rules never run in a command, and compiling them all
    at import cost every command's start (ingest's among them)."""

    __slots__ = ("_compiled", "flags", "pattern")

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self.pattern, self.flags = pattern, flags
        self._compiled: re.Pattern[str] | None = None

    @property
    def compiled(self) -> re.Pattern[str]:
        if self._compiled is None:  # a race compiles twice, harmlessly
            self._compiled = re.compile(self.pattern, self.flags)
        return self._compiled

    def sub(self, replacement: str, text: str) -> str:
        return self.compiled.sub(replacement, text)

    def finditer(self, text: str, start: int, end: int) -> Iterator[re.Match[str]]:
        return self.compiled.finditer(text, start, end)


# Credentials recognisable by their shape alone, as (name, literals, pattern,
# replacement). Each pattern runs only over a text holding one of its
# literals and mostly starts with a literal itself (the word boundary is a
# look-behind after it), so the engine skips ahead fast. A replacement keeps
# what names the place (a URL's scheme and user, a webhook's host), never the
# credential. The names are for tests and docs, and say what each rule is for.
# A header split across lines or spaced, raw or JSON-escaped. Words are
# parted by at least one space (never by nothing: `(?:[A-Z]+)*` backtracks
# exponentially over a long run of capitals, and base64 has them).

_PEM_GAP = r"(?:\s|\\[nrt])*"
_PEM_SEP = r"(?:\s|\\[nrt])+"
_PEM_WORDS = rf"{_PEM_SEP}(?:[A-Z0-9]+{_PEM_SEP})*?PRIVATE{_PEM_SEP}KEY{_PEM_GAP}"
_SHAPES: tuple[tuple[str, tuple[str, ...], _Lazy, str], ...] = tuple(
    (name, literals, _Lazy(pattern, re.DOTALL), replacement)
    for name, literals, pattern, replacement in (
        (
            "pem-private-key",
            ("PRIVATE",),
            rf"-{{3,}}{_PEM_GAP}BEGIN{_PEM_WORDS}-{{3,}}.*?"
            rf"(?:-{{3,}}{_PEM_GAP}END{_PEM_WORDS}-{{3,}}|\Z)",
            REDACTED,
        ),
        (
            "openai-anthropic",
            ("sk-",),
            r"sk-(?<![A-Za-z0-9_-]sk-)"
            r"(?:(?:ant|proj|svcacct|admin|or-v1)-[A-Za-z0-9_-]{8,}|[A-Za-z0-9]{20,})",
            REDACTED,
        ),
        (
            "stripe",
            ("_live_", "_test_", "whsec_"),
            r"(?<![A-Za-z0-9])(?:(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}|whsec_[A-Za-z0-9+/=]{24,})",
            REDACTED,
        ),
        (
            "github",
            ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
            r"gh[pousr]_[A-Za-z0-9]{20,}",
            REDACTED,
        ),
        ("github-fine-grained", ("github_pat_",), r"github_pat_[A-Za-z0-9_]{20,}", REDACTED),
        ("huggingface-npm", ("hf_", "npm_"), r"(?:hf|npm)_[A-Za-z0-9]{30,}", REDACTED),
        ("gitlab", ("glpat-",), r"glpat-[A-Za-z0-9_-]{20,}", REDACTED),
        (
            "slack-token",
            ("xox", "xapp-"),
            r"(?:xox[abposre]|xapp)[.-](?:xox[bp]-)?[A-Za-z0-9-]{10,}",
            REDACTED,
        ),
        (
            "slack-webhook",
            ("hooks.slack.com/",),
            r"(hooks\.slack\.com/(?:services|workflows|triggers)/)[A-Za-z0-9_/+-]{8,}",
            rf"\g<1>{REDACTED}",
        ),
        (
            "aws-access-key-id",
            ("AKIA", "ASIA"),
            r"(?:AKIA|ASIA)[0-9A-Z]{16}(?![0-9A-Za-z])",
            REDACTED,
        ),
        ("google-api-key", ("AIza",), r"AIza[0-9A-Za-z_-]{30,}", REDACTED),
        (
            "jwt",
            ("eyJ",),
            r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
            REDACTED,
        ),
        (
            # scheme://user:password@host: the password goes, the rest stays
            "url-credentials",
            ("://",),
            r"((?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{0,30}://[^\s:/?#@\[\]\"'<>]*:)"
            r"[^\s/?#@\"'<>]+(?=@)",
            rf"\g<1>{REDACTED}",
        ),
    )
)
SHAPE_NAMES = tuple(name for name, *_ in _SHAPES)
# A private key's header and footer alone, for redacting a stream piece by
# piece; and the end of a piece where a header may be going on in the next.
_PEM_BEGIN = re.compile(rf"-{{3,}}{_PEM_GAP}BEGIN{_PEM_WORDS}-{{3,}}")
_PEM_END = re.compile(rf"-{{3,}}{_PEM_GAP}END{_PEM_WORDS}-{{3,}}")
# A piece may also stop inside an escape (`\` of a JSON-escaped `\n`).
_PEM_OPEN_END = re.compile(
    rf"-+{_PEM_GAP}\\?\Z"
    rf"|-{{3,}}{_PEM_GAP}(?:B|BE|BEG|BEGI|BEGIN(?:{_PEM_SEP}[A-Z0-9]+)*{_PEM_GAP}-*)\\?\Z"
)

# A header or an assignment whose name says it holds a credential: the name
# and the separator (group 1) stay, the value goes. Prose has colons too
# ("the secret: ...", "top-secret: everything"), so after a compound name and
# a colon an unquoted value counts only when it has a digit, as generated
# credentials do; `password:` is taken at its word. Matched on the
# lower-cased text, each rule only where its literals occur; a value already
# redacted is left alone, so redacting is idempotent.
_FRESH = r"(?!\[redacted\])"
_VALUE = rf"{_FRESH}(?=[^\s\"',;&]*[a-z])[^\s\"',;&]{{8,}}"
_CODE = rf"{_FRESH}(?=[^\s\"',;&]*[0-9])[^\s\"',;&]{{8,}}"
_WORDS = r"(?:api[_-]?key|secret|token|password|passwd|credentials?)s?"
_KEYWORDS = ("key", "secret", "token", "password", "passwd", "credential")
_NAMED: tuple[tuple[tuple[str, ...], _Lazy], ...] = tuple(
    (literals, _Lazy(pattern))
    for literals, pattern in (
        (
            ("authorization",),
            r"(authorization[\"']?\s*[:=]\s*[\"']?(?:(?:bearer|basic|token)\s+)?)"
            rf"{_FRESH}(?!(?:bearer|basic|token)\b)[^\s\"',;()<>\[\]{{}}]+",
        ),
        (("bearer",), r"(bearer\s+)(?=[a-z0-9._~+/=-]*[0-9_~+/=])[a-z0-9._~+/=-]{8,}"),
        (("=",), rf"({_WORDS}[\"']?\s*=\s*[\"']?){_VALUE}"),
        (
            # AWS_SECRET_ACCESS_KEY=..., `aws_secret_access_key = ...` (the
            # credentials file), "SecretAccessKey": "..." (the CLI's JSON)
            tuple(f"secret{mark}access" for mark in ("", "_", "-", ".")),
            rf"(secret[_.-]?access[_.-]?keys?[\"']?\s*[:=]\s*[\"']?){_VALUE}",
        ),
        (
            tuple(f"{mark}{word}" for mark in "_.-" for word in _KEYWORDS),
            rf"([_.-](?:key|secret|token|password)s?[\"']\s*:\s*[\"']?){_VALUE}",
        ),
        (
            tuple(f"{mark}{word}" for mark in "_.-" for word in _KEYWORDS),
            rf"([_.-](?:key|secret|token|password)s?\s*:\s*){_CODE}",
        ),
        (
            tuple(f"{quote}{word}" for quote in "\"'" for word in (*_KEYWORDS, "api")),
            rf"([\"']{_WORDS}[\"']\s*:\s*[\"']?){_VALUE}",
        ),
        (
            ("apikey", "password", "passwd"),
            rf"((?<![a-z0-9_])(?:apikey|password|passwd)\s*:\s*){_VALUE}",
        ),
    )
)
# Where a named credential can be: the lines holding a hint. Rules run over
# those lines only, so a long output full of sentinels and paths costs one
# substring search per hint (faster than one pattern of them all).
_NAMED_HINTS = ("auth", "bearer", *_KEYWORDS)
_SHAPE_LITERALS = tuple({lit: None for _, literals, _, _ in _SHAPES for lit in literals})

_SECRET_NAME = re.compile(r"(?i)key|token|secret|password|passwd|credential|auth")
_MIN_SECRET = 8


def secret_values(env: Mapping[str, str]) -> tuple[str, ...]:
    """The values of the variables whose names look like they hold secrets,
    longest first (so a value containing another is replaced whole)."""
    values = {
        v.strip()
        for k, v in env.items()
        if _SECRET_NAME.search(k) and len(v.strip()) >= _MIN_SECRET
    }
    return tuple(sorted(values, key=len, reverse=True))


class Redacted(str):
    """A text `redact` returned. Redacting it again, with no secret values
    to take out, gives it back at once: the store and the artifacts each
    redact what they keep, and an ingest hands both the same texts."""

    __slots__ = ()


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every credential replaced by `[REDACTED]` (a `Redacted`)."""
    if type(text) is Redacted and not secrets:
        return text
    return Redacted(_redact(text, secrets))


def _redact(text: str, secrets: Iterable[str]) -> str:
    for value in secrets:
        if value in text:
            text = text.replace(value, REDACTED)
    # one substring search per literal, the cost of redacting a text with no
    # credential in it; each rule then runs only where its literals were found
    present = {literal for literal in _SHAPE_LITERALS if literal in text}
    if present:
        for _, literals, pattern, replacement in _SHAPES:
            if not present.isdisjoint(literals):
                text = pattern.sub(replacement, text)
    folded = text.lower()
    if len(folded) == len(text):
        spans = sorted(_named_spans(folded))
    else:  # lower() moved offsets (a few non-ASCII letters): match ignoring case
        spans = sorted(
            (match.end(1), -match.end())
            for _, pattern in _NAMED
            for match in re.finditer(pattern.pattern, text, re.IGNORECASE)
        )
    pieces: list[str] = []
    last = 0
    for start, negative_end in spans:  # the longest value first where two rules find one
        if start < last:  # overlaps a value already taken out
            continue
        pieces += [text[last:start], REDACTED]
        last = -negative_end
    return "".join([*pieces, text[last:]]) if pieces else text


class StreamRedactor:
    """Redacts a stream given piece by piece (lines of a child's stdout or
    stderr, text as it is decoded) so that each piece can be kept or shown at
    once, where a credential spans pieces: a private key's body lines follow
    its header, and the header itself may be split across lines. A piece that
    ends where a header may be going on is held back (a few lines at most) and
    redacted with what follows; inside a key, everything up to its footer is
    dropped. `flush` gives what is held when the stream ends."""

    OPEN = 128  # characters a header that may be going on can have (real ones: < 60)
    HOLD = 16 * 1024  # characters held back at most while one may be going on
    TAIL = 256  # characters of a key's text kept to find a footer split across pieces

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = tuple(secrets)
        self.pending = ""
        self.in_key = False
        self.footer_open = False
        self.tail = ""

    def feed(self, piece: str) -> str:
        if self.footer_open:  # the rest of a footer's dashes, cut off
            piece = piece.lstrip("-")
            self.footer_open = not piece
        text = self.pending + piece
        self.pending = ""
        if self.in_key:
            window = self.tail + text
            end = _PEM_END.search(window)
            if end is None:
                self.tail = window[-self.TAIL :]
                return ""
            self.in_key, self.tail = False, ""
            text = window[end.end() :]
            self.footer_open = not text
        open_end = _PEM_OPEN_END.search(text, max(0, len(text) - self.OPEN))
        if open_end is not None and len(text) <= self.HOLD:
            self.pending = text  # whole: a credential cut in two would not be recognised
            return ""
        if "PRIVATE" in text:
            begins = list(_PEM_BEGIN.finditer(text))
            if begins and not _PEM_END.search(text, begins[-1].end()):
                self.in_key, self.tail = True, text[begins[-1].end() :][-self.TAIL :]
        return redact(text, self.secrets)

    def flush(self) -> str:
        text, self.pending = self.pending, ""
        return "" if self.in_key or not text else redact(text, self.secrets)


def _named_spans(folded: str) -> Iterator[tuple[int, int]]:
    """(start, -end) of each named credential's value, rule by rule, over the
    lines that hold a hint (no rule spans lines)."""
    for start, end in _hint_lines(folded):
        line = folded[start:end]
        for literals, pattern in _NAMED:
            if any(literal in line for literal in literals):
                for match in pattern.finditer(folded, start, end):
                    yield match.end(1), -match.end()


def _hint_lines(folded: str) -> list[tuple[int, int]]:
    """(start, end) of each line holding a hint, in order, each line once."""
    lines = set()
    for hint in _NAMED_HINTS:
        at = folded.find(hint)
        while at >= 0:
            start = folded.rfind("\n", 0, at) + 1
            end = folded.find("\n", at)
            end = len(folded) if end < 0 else end
            lines.add((start, end))
            at = folded.find(hint, end)  # the next line holding it, if any
    return sorted(lines)


@overload
def redact_json(value: Mapping[str, object], secrets: Iterable[str] = ()) -> dict[str, object]: ...
@overload
def redact_json(value: object, secrets: Iterable[str] = ()) -> object: ...
def redact_json(value: object, secrets: Iterable[str] = ()) -> object:
    """A JSON-like value with every string in it redacted."""
    secrets = tuple(secrets)
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, Mapping):
        return {
            redact(k, secrets) if isinstance(k, str) else k: redact_json(v, secrets)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact_json(v, secrets) for v in value]
    return value


def cap(text: str, limit: int = DEBUG_LOG_LIMIT) -> str:
    """The head and the tail of a text longer than `limit` characters."""
    if len(text) <= limit:
        return text
    head = limit // 2
    tail = limit - head
    return (
        f"{text[:head]}\n[... {len(text) - limit} characters left out ...]\n"
        f"{text[len(text) - tail :]}"
    )
