"""Frontmatter: finding the block, parsing it, and the fast field reader."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from helpers.kb import CORPUS, EXAMPLE_KB, require_shared
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from commonplace.frontmatter import FrontmatterError, parse, read_fields, split

FACT_KEYS = frozenset({"type", "traits", "status"})

# -- split -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("no frontmatter\n", (None, "no frontmatter\n")),
        ("", (None, "")),
        ("---", (None, "---")),
        ("---\n", (None, "---\n")),
        ("---\na: b\n", (None, "---\na: b\n")),  # unclosed
        ("---\na: b\nbody without closer", (None, "---\na: b\nbody without closer")),
        ("---\na: b\n---\nbody\n", ("a: b\n", "body\n")),
        ("---\na: b\n...\nbody\n", ("a: b\n", "body\n")),
        ("---\na: b\n---", ("a: b\n", "")),
        ("---\na: b\n---\n", ("a: b\n", "")),
        ("---\n---\nbody", ("", "body")),
        ("---\n...\n", ("", "")),
        ("---\na: 1\n---\nx\n---\ny\n", ("a: 1\n", "x\n---\ny\n")),
        ("---\na: ---x\n---\n", ("a: ---x\n", "")),
        # The block must open on the very first line, with exactly `---`.
        ("\n---\na: b\n---\n", (None, "\n---\na: b\n---\n")),
        ("--- \na: b\n---\n", (None, "--- \na: b\n---\n")),
        ("----\na: b\n---\n", (None, "----\na: b\n---\n")),
        ("---a\na: b\n---\n", (None, "---a\na: b\n---\n")),
        # Closers are whole lines.
        ("---\na: b\n----\n", (None, "---\na: b\n----\n")),
        ("---\na: b\n ---\n", (None, "---\na: b\n ---\n")),
    ],
)
def test_split(text: str, expected: tuple[str | None, str]) -> None:
    assert split(text) == expected


def test_split_bom() -> None:
    assert split("\ufeff---\ntype: x\n---\nbody\n") == ("type: x\n", "body\n")
    assert split("\ufeffplain\n") == (None, "plain\n")


def test_split_crlf() -> None:
    assert split("---\r\ntype: x\r\n---\r\nbody\r\n") == ("type: x\r\n", "body\r\n")
    assert split("---\r\ntype: x\r\n...\r\n") == ("type: x\r\n", "")
    assert split("---\r\ntype: x\r\n---") == ("type: x\r\n", "")
    assert split("---\r\nunclosed: x\r\n") == (None, "---\r\nunclosed: x\r\n")


_LINE = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
    max_size=12,
).filter(lambda line: line not in ("---", "..."))


@given(
    lines=st.lists(_LINE, max_size=6),
    body=st.text(max_size=40),
    closer=st.sampled_from(["---", "..."]),
    newline=st.sampled_from(["\n", "\r\n"]),
)
def test_split_round_trip(lines: list[str], body: str, closer: str, newline: str) -> None:
    block = "".join(line + newline for line in lines)
    text = "---" + newline + block + closer + newline + body
    assert split(text) == (block, body)


# -- parse -----------------------------------------------------------------------------


def test_parse_mapping() -> None:
    assert parse("type: kb/types/note.md\ntraits: [a, b]\ncount: 3\n") == {
        "type": "kb/types/note.md",
        "traits": ["a", "b"],
        "count": 3,
    }


@pytest.mark.parametrize("block", ["", "\n", "# only a comment\n", "~\n", "null\n"])
def test_parse_empty_is_empty_mapping(block: str) -> None:
    assert parse(block) == {}


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("- a\n- b\n", "frontmatter is not a mapping"),
        ("just words\n", "frontmatter is not a mapping"),
        ("42\n", "frontmatter is not a mapping"),
    ],
)
def test_parse_non_mapping(block: str, message: str) -> None:
    with pytest.raises(FrontmatterError) as info:
        parse(block)
    assert str(info.value) == message


@pytest.mark.parametrize(
    "block",
    [
        "a: [\n",
        "a: b: c\n",
        'a: "unclosed\n',
        "a: 1\n  b: 2\n c: 3\n",
        "a: !!python/name:os.system\n",  # the safe loader refuses arbitrary objects
        "a: &x 1\nb: *y\n",
        "\tkey: value\n",
    ],
)
def test_parse_invalid_yaml(block: str) -> None:
    with pytest.raises(FrontmatterError) as info:
        parse(block)
    message = str(info.value)
    assert message.startswith("invalid YAML in frontmatter: ")
    assert "\n" not in message
    assert len(message) > len("invalid YAML in frontmatter: ")


def test_frontmatter_error_is_a_value_error() -> None:
    assert issubclass(FrontmatterError, ValueError)


# -- read_fields: examples -------------------------------------------------------------


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ("type: kb/types/note.md\n", {"type": "kb/types/note.md"}),
        ("type: ./types/x.md\nstatus: seedling\n", {"type": "./types/x.md", "status": "seedling"}),
        ("traits: [a, b-c]\n", {"traits": ["a", "b-c"]}),
        ("traits: []\n", {"traits": []}),
        ("traits:\n  - a\n  - b\n", {"traits": ["a", "b"]}),
        ("traits:\n- a\n- b\n", {"traits": ["a", "b"]}),
        ("traits:\n", {"traits": None}),
        ("traits:\ntype: x\n", {"traits": None, "type": "x"}),
        ("status: yes\n", {"status": True}),
        ("status: null\n", {"status": None}),
        ("status: 3\n", {"status": 3}),
        ("status: '3'\n", {"status": "3"}),
        ("traits: [yes, b]\n", {"traits": [True, "b"]}),
        ("traits:\n  - no\n", {"traits": [False]}),
        ("type: x # comment\n", {"type": "x"}),
        ("# c\ntype: x\n\n  # indented comment\nstatus: s\n", {"type": "x", "status": "s"}),
        ("title: a\ntags: [x]\nother:\n  type: nested\n", {}),
        ("type: a\ntype: b\n", {"type": "b"}),
        ("type: x\r\nstatus: y\r\n", {"type": "x", "status": "y"}),
        ("description: |\n  type: fake\ntype: real\n", {"type": "real"}),
        ("traits: [a,\n  b]\n", {"traits": ["a", "b"]}),
        ("type:\n  nested: map\n", {"type": {"nested": "map"}}),
    ],
)
def test_read_fields_examples(block: str, expected: dict[str, Any]) -> None:
    assert read_fields(block, FACT_KEYS) == expected
    data = parse(block)
    assert expected == {k: data[k] for k in FACT_KEYS if k in data}


def test_read_fields_invalid_yaml_raises_frontmatter_error() -> None:
    with pytest.raises(FrontmatterError):
        read_fields("type: [unclosed\n", FACT_KEYS)


def test_read_fields_continuation_of_plain_scalar() -> None:
    # A plain scalar continued on an indented line is one value in YAML.
    block = "type: kb/types/note.md\n  continued\n"
    assert parse(block) == {"type": "kb/types/note.md continued"}
    assert read_fields(block, FACT_KEYS) == {"type": "kb/types/note.md continued"}


def test_read_fields_key_lookalike_inside_quoted_scalar() -> None:
    # `type: fake` is part of the quoted value of `other`, not a key.
    block = 'other: "abc\ntype: fake\n  end"\n'
    assert parse(block) == {"other": "abc type: fake end"}
    assert read_fields(block, FACT_KEYS) == {}


def test_read_fields_yaml_keyword_key() -> None:
    # YAML reads the key `on` as the boolean True, so the string key `on` is absent.
    block = "on: push\n"
    assert parse(block) == {True: "push"}
    assert read_fields(block, frozenset({"on"})) == {}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", True),
        ("True", True),
        ("yes", True),
        ("false", False),
        ("OFF", False),
        ("~", None),
        ("null", None),
        ('"true"', "true"),
        ("'true'", "true"),
        ("truthy", "truthy"),
    ],
)
def test_read_fields_reads_plain_booleans_without_the_parser(
    value: str, expected: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`user-verified: true` is on many notes of a KB: answering it on the fast
    path keeps the selector's scan fast; the value is what PyYAML gives."""
    import commonplace.frontmatter as fm

    block = f"type: kb/types/note.md\nuser-verified: {value}\n"
    keys = frozenset({"type", "user-verified"})
    assert parse(block)["user-verified"] == expected
    if value[0] not in "\"'":
        monkeypatch.setattr(fm, "_slow", lambda *_: pytest.fail("took the slow path"))
    assert read_fields(block, keys) == {"type": "kb/types/note.md", "user-verified": expected}


# -- read_fields: property -------------------------------------------------------------

KEYS = ["type", "traits", "status", "user-verified", "title", "description", "tags", "other", "x-y"]
ALL_KEYS = frozenset(KEYS)

WORDS = st.one_of(
    st.sampled_from(
        [
            "seedling",
            "kb/types/note.md",
            "./types/x.md",
            "../types/adr.md",
            "title-as-claim",
            "a_b",
            "x.y",
            "_",
            "yes",
            "No",
            "TRUE",
            "false",
            "off",
            "On",
            "null",
            "Null",
            "NULL",
            "~",
            "y",
            "n",
            "42",
            "-7",
            "3.14",
            "0x1F",
            "0o17",
            "017",
            "1_000",
            "1e3",
            "1.0e+3",
            ".inf",
            "-.Inf",
            "2024-01-05",
            "12:30",
            "=",
            "a:b",
            "http://x.y/z",
            "a#b",
            "-a",
            "é",
        ]
    ),
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_./-]{0,8}", fullmatch=True),
)

QUOTED_TEXT = st.text(
    alphabet=st.sampled_from(list("abc XYZ019:#-[]{},&*!|>%@`/.")), min_size=0, max_size=12
)
INDENT = st.sampled_from(["  ", "    ", "\t"])


@st.composite
def _entry(draw: st.DrawFn, risky: bool) -> str:
    key = draw(st.sampled_from(KEYS))
    kinds = [
        "scalar",
        "scalar-comment",
        "flow",
        "block-list",
        "quoted",
        "nested",
        "block-scalar",
        "empty",
        "multiline-quoted-indented",
    ]
    if risky:
        kinds += ["multiline-plain", "multiline-quoted-unindented"]
    kind = draw(st.sampled_from(kinds))
    word = draw(WORDS)
    if kind == "scalar":
        return f"{key}: {word}\n"
    if kind == "scalar-comment":
        return f"{key}: {word} # note\n"
    if kind == "flow":
        items = draw(st.lists(st.one_of(WORDS, QUOTED_TEXT.map(lambda t: f'"{t}"')), max_size=4))
        return f"{key}: [{', '.join(items)}]\n"
    if kind == "block-list":
        indent = draw(st.sampled_from(["", "  ", "    "]))
        items = draw(st.lists(WORDS, min_size=1, max_size=4))
        lines = [f"{indent}- {item}\n" for item in items]
        if draw(st.booleans()):
            lines.insert(draw(st.integers(0, len(lines))), f"{indent}# comment\n")
        return f"{key}:\n" + "".join(lines)
    if kind == "quoted":
        text = draw(QUOTED_TEXT)
        return draw(st.sampled_from([f'{key}: "{text}"\n', f"{key}: '{text}'\n"]))
    if kind == "nested":
        sub = draw(st.sampled_from(KEYS))
        return f"{key}:\n  {sub}: {word}\n  more: [a, {word}]\n"
    if kind == "block-scalar":
        style = draw(st.sampled_from(["|", ">", "|-", ">+"]))
        inner = draw(st.sampled_from(KEYS))
        return f"{key}: {style}\n  first line\n  {inner}: {word}\n"
    if kind == "empty":
        return f"{key}:\n"
    if kind == "multiline-quoted-indented":
        inner = draw(st.sampled_from(KEYS))
        return f'{key}: "start\n  {inner}: {word}\n  end"\n'
    if kind == "multiline-plain":
        indent = draw(INDENT)
        return f"{key}: {word}\n{indent}{draw(WORDS)}\n"
    inner = draw(st.sampled_from(KEYS))
    return f'{key}: "start\n{inner}: {word}\n  end"\n'


@st.composite
def blocks(draw: st.DrawFn, risky: bool = True) -> str:
    parts = draw(
        st.lists(
            st.one_of(_entry(risky), st.sampled_from(["# a comment\n", "\n", "   \n"])),
            max_size=7,
        )
    )
    block = "".join(parts)
    return block.replace("\n", "\r\n") if draw(st.booleans()) else block


def _check(block: str, keys: frozenset[str]) -> None:
    try:
        data = parse(block)
    except FrontmatterError:
        assume(False)
        raise
    assume(not _has_nan(data))
    for ask in (keys, ALL_KEYS):
        assert read_fields(block, ask) == {k: data[k] for k in ask if k in data}


def _has_nan(value: object) -> bool:
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, dict):
        return any(_has_nan(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_nan(v) for v in value)
    return False


_PROPERTY = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)


@_PROPERTY
@given(block=blocks(risky=True), keys=st.frozensets(st.sampled_from(KEYS)))
def test_read_fields_agrees_with_parse(block: str, keys: frozenset[str]) -> None:
    _check(block, keys)


@_PROPERTY
@given(block=blocks(risky=False), keys=st.frozensets(st.sampled_from(KEYS)))
def test_read_fields_agrees_with_parse_without_continuation_lines(
    block: str, keys: frozenset[str]
) -> None:
    """The same property over forms with no unindented or plain continuation lines."""
    _check(block, keys)


# -- read_fields over real notes -------------------------------------------------------


def _compare_tree(root: Path) -> int:
    compared = 0
    for path in sorted(root.rglob("*.md")):
        block, _ = split(path.read_text(encoding="utf-8"))
        if block is None:
            continue
        try:
            data = parse(block)
        except FrontmatterError:
            continue
        keys = FACT_KEYS | {k for k in data if isinstance(k, str)}
        for ask in (FACT_KEYS, frozenset(keys)):
            expected = {k: data[k] for k in ask if k in data}
            assert read_fields(block, ask) == expected, path
        compared += 1
    return compared


def test_read_fields_on_corpus() -> None:
    assert _compare_tree(require_shared(CORPUS)) > 300


def test_read_fields_on_example_kb() -> None:
    assert _compare_tree(EXAMPLE_KB) >= 10
