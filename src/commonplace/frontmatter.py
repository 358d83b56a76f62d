"""YAML frontmatter: finding it, parsing it, and reading a few fields fast.

Reading every note's frontmatter with a full YAML parser dominates the
selector on large KBs, so `read_fields` answers the common simple forms
(`key: word`, `key: [a, b]`, block lists of words) directly and falls back to
PyYAML's C loader for anything else. Both paths give the same values.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"(?:[A-Za-z_]|\./|\.\./)[A-Za-z0-9_./-]*\Z")
_YAML_WORDS = frozenset(
    w
    for b in ("yes", "no", "true", "false", "on", "off", "null")
    for w in (b, b.title(), b.upper())
)
# Plain scalars PyYAML reads as booleans or null (YAML 1.1), answered here so
# that `user-verified: true` keeps a note on the fast path.
_SCALARS: dict[str, object] = {
    **{w: True for b in ("yes", "true", "on") for w in (b, b.title(), b.upper())},
    **{w: False for b in ("no", "false", "off") for w in (b, b.title(), b.upper())},
    **{w: None for w in ("null", "Null", "NULL", "~")},
}
_OPENERS = {'"': '"', "'": "'", "[": "]", "{": "}"}
_CLOSER = re.compile(r"^(?:---|\.\.\.)\r?$", re.MULTILINE)


class FrontmatterError(ValueError):
    """The frontmatter block is present but is not a YAML mapping."""


def split(text: str) -> tuple[str | None, str]:
    """Return (frontmatter text or None, body). A block must open on the first
    line with `---` and close with a line `---` or `...`."""
    if text.startswith("\ufeff"):
        text = text[1:]
    if not (text.startswith("---\n") or text.startswith("---\r\n")):
        return None, text
    start = text.index("\n") + 1
    close = _CLOSER.search(text, start)
    if close is None:
        return None, text
    return text[start : close.start()], text[close.end() + 1 :]


def parse(block: str) -> dict[str, object]:
    """Parse a frontmatter block into a mapping (empty block: empty mapping)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        value = yaml.load(block, Loader=loader)
    except yaml.YAMLError as exc:
        raise FrontmatterError(f"invalid YAML in frontmatter: {_first_line(exc)}") from exc
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise FrontmatterError("frontmatter is not a mapping")
    return value


def read_fields(block: str, keys: frozenset[str]) -> dict[str, object]:
    """The values of `keys` present in the block, as `parse` would give them."""
    found: dict[str, object] = {}
    items: list[str] | None = None  # the block list of the wanted key just read
    wanted_last = False  # the previous top-level key is one of `keys`
    last = ""
    for line in block.split("\n"):
        line = line.rstrip("\r")
        if not line or line[0] in " \t-#":
            stripped = line.strip()
            if not stripped or stripped[0] == "#":
                continue
            if _suspect(line, stripped, last):
                return _slow(block, keys)  # likely invalid: let the parser decide
            if not wanted_last:
                continue
            if items is None or not stripped.startswith("- "):
                return _slow(block, keys)  # a continued scalar or a nested value
            word = stripped[2:].strip()
            if not _simple(word):
                return _slow(block, keys)
            items.append(word)
            continue
        if items is not None:
            found[last] = items or None
            items = None
        key, colon, value = line.partition(":")
        if (
            not (colon and key.replace("-", "_").isidentifier())
            or key in _YAML_WORDS
            or value[:1] not in ("", " ", "\t")
        ):
            return _slow(block, keys)
        value = value.strip()
        opener = value[:1]
        if opener in _OPENERS and (len(value) < 2 or not value.endswith(_OPENERS[opener])):
            return _slow(block, keys)  # a quoted or flow value continued on later lines
        if opener not in _OPENERS and (": " in value or value.endswith(":")):
            return _slow(block, keys)  # `title: a: b` is not YAML; a comment may be fine
        wanted_last, last = key in keys, key
        if not wanted_last:
            continue
        if key in found:
            return _slow(block, keys)
        if not value:
            items = []
            continue
        parsed = _inline(value)
        if parsed is _UNSURE:
            return _slow(block, keys)
        found[key] = parsed
    if items is not None:
        found[last] = items or None
    return found


_UNSURE = object()


def _suspect(line: str, stripped: str, last_key: str) -> bool:
    """Whether an indented, list or continuation line the fast path would
    skip may be invalid YAML: tab indentation, content before the first key
    (a frontmatter that is a list), a line that opens with `:`, or an odd
    number of double quotes. Such blocks go to the parser, which decides;
    valid ones only cost its time."""
    return line[0] == "\t" or not last_key or stripped[0] == ":" or stripped.count('"') % 2 == 1


def _simple(word: str) -> bool:
    return bool(_WORD.match(word)) and word not in _YAML_WORDS


def _inline(value: str) -> object:
    if _simple(value):
        return value
    if value in _SCALARS:
        return _SCALARS[value]
    if value.startswith("[") and value.endswith("]"):
        inner = value[1:-1].strip()
        if not inner:
            return []
        words = [w.strip() for w in inner.split(",")]
        if all(_simple(w) for w in words):
            return words
    return _UNSURE


def _slow(block: str, keys: frozenset[str]) -> dict[str, object]:
    data = parse(block)
    return {k: data[k] for k in keys if k in data}


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
