"""The parts of a note a gate watches (SPEC 2, 11): which edits touch which part,
and which edits (whitespace, YAML layout) touch none."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from commonplace import frontmatter
from commonplace.kb.note_parts import WATCHABLE, changed_parts

NOTE = """\
---
description: Recording the first and last frost each year to plan sowing
type: kb/types/note.md
traits: [a, b]
tags: [weather]
status: current
---

# Frost dates

Each year gets one line at the front of the notebook: the date of the last
spring frost and of the first autumn frost.

Tender seedlings go out two weeks after the latest last frost on record.
"""


def edit(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def test_the_watchable_parts() -> None:
    assert WATCHABLE == ("title", "description", "body", "frontmatter")


def test_an_identical_note_changes_nothing() -> None:
    assert changed_parts(NOTE, NOTE, WATCHABLE) == ()


# Each edit, and the parts it touches (in WATCHABLE order).
EDITS = [
    pytest.param(
        lambda t: edit(t, "the notebook: the date", "the  notebook:\n the date"),
        (),
        id="body-reflow",
    ),
    pytest.param(lambda t: t.rstrip("\n") + "\n\n\n", (), id="trailing-blank-lines"),
    pytest.param(lambda t: edit(t, "\n# Frost dates\n", "\n\n\n# Frost dates\n"), (), id="blanks"),
    pytest.param(lambda t: t.replace("\n", "\r\n"), (), id="crlf"),
    pytest.param(lambda t: "\ufeff" + t, (), id="bom"),
    pytest.param(lambda t: edit(t, "# Frost dates", "#   Frost \tdates  "), (), id="heading-space"),
    pytest.param(
        lambda t: edit(t, "traits: [a, b]", "traits:\n  - a\n  - b"), (), id="flow-to-block-list"
    ),
    pytest.param(
        lambda t: edit(t, "traits: [a, b]", "traits:\n- a\n- b"), (), id="unindented-block-list"
    ),
    pytest.param(
        lambda t: edit(
            t,
            "description: Recording the first and last frost each year to plan sowing",
            "description: 'Recording the first and last frost each year to plan sowing'",
        ),
        (),
        id="single-quoted-description",
    ),
    pytest.param(
        lambda t: edit(
            t,
            "description: Recording the first and last frost each year to plan sowing",
            'description: "Recording the first and last\n  frost each year to plan sowing"',
        ),
        (),
        id="double-quoted-folded-description",
    ),
    pytest.param(
        lambda t: edit(
            t,
            "description: Recording the first and last frost each year to plan sowing",
            "description: >-\n  Recording the first and last\n  frost each year to plan sowing",
        ),
        (),
        id="folded-block-description",
    ),
    pytest.param(
        lambda t: edit(t, "tags: [weather]\nstatus: current", "status: current\ntags: [weather]"),
        (),
        id="keys-reordered",
    ),
    pytest.param(lambda t: edit(t, "status: current", "status:   current   "), (), id="fm-spaces"),
    pytest.param(
        lambda t: edit(t, "latest last frost", "latest recorded frost"), ("body",), id="body-word"
    ),
    pytest.param(lambda t: t + "\nA new paragraph.\n", ("body",), id="body-paragraph-added"),
    pytest.param(
        lambda t: edit(t, "# Frost dates", "# Frost days"), ("title", "body"), id="heading-word"
    ),
    pytest.param(
        lambda t: edit(t, "to plan sowing", "to plan planting"),
        ("description", "frontmatter"),
        id="description-word",
    ),
    pytest.param(
        lambda t: edit(t, "tags: [weather]", "tags: [weather, frost]"),
        ("frontmatter",),
        id="tag-added",
    ),
    pytest.param(
        lambda t: edit(t, "traits: [a, b]", "traits: [b, a]"), ("frontmatter",), id="list-order"
    ),
    pytest.param(
        lambda t: edit(t, "status: current", "status: seedling"), ("frontmatter",), id="status"
    ),
    pytest.param(
        lambda t: edit(t, "status: current\n", "status: current\ntitle: Frost dates\n"),
        ("frontmatter",),
        id="title-key-equal-to-heading",
    ),
    pytest.param(
        lambda t: edit(t, "status: current\n", "status: current\ntitle: Frost records\n"),
        ("title", "frontmatter"),
        id="title-key-differs-from-heading",
    ),
]


@pytest.mark.parametrize(("change", "touched"), EDITS)
def test_which_parts_an_edit_touches(change: Any, touched: tuple[str, ...]) -> None:
    after = change(NOTE)
    assert after != NOTE
    assert changed_parts(NOTE, after, WATCHABLE) == touched
    # Each part alone agrees with the whole.
    for part in WATCHABLE:
        assert changed_parts(NOTE, after, (part,)) == ((part,) if part in touched else ())


def test_parts_come_back_in_the_order_the_gate_watches_them() -> None:
    after = edit(edit(NOTE, "# Frost dates", "# Frost days"), "tags: [weather]", "tags: []")
    assert changed_parts(NOTE, after, ("frontmatter", "body", "title")) == (
        "frontmatter",
        "body",
        "title",
    )
    assert changed_parts(NOTE, after, ("description",)) == ()
    assert changed_parts(NOTE, after, ()) == ()


def test_a_frontmatter_title_wins_over_the_heading() -> None:
    titled = edit(NOTE, "status: current\n", "status: current\ntitle: Frost records\n")
    # The heading is body text once the frontmatter names the title.
    new_heading = edit(titled, "# Frost dates", "# Something else")
    assert changed_parts(titled, new_heading, ("title", "body")) == ("body",)
    new_title = edit(titled, "title: Frost records", "title: Frost  records, yearly")
    assert changed_parts(titled, new_title, ("title", "body")) == ("title",)
    reflowed = edit(titled, "title: Frost records", "title: 'Frost   records'")
    assert changed_parts(titled, reflowed, ("title",)) == ()


def test_title_is_the_first_level_one_heading() -> None:
    before = "---\ndescription: d\n---\n\nIntro line.\n\n## Section\n\n# The title\n\nText.\n"
    assert changed_parts(before, edit(before, "## Section", "## Other"), ("title",)) == ()
    assert changed_parts(before, edit(before, "# The title", "# A title"), ("title",)) == ("title",)
    # A `#word` is not a heading; losing the only heading is a change.
    assert changed_parts(before, edit(before, "# The title", "#The title"), ("title",)) == (
        "title",
    )


def test_notes_without_frontmatter() -> None:
    before = "# Plain\n\nNo frontmatter here.\n"
    assert changed_parts(before, "#  Plain\n\nNo   frontmatter\nhere.", WATCHABLE) == ()
    assert changed_parts(before, "# Plain\n\nSome frontmatter here.\n", WATCHABLE) == ("body",)
    # Adding frontmatter is a change of the frontmatter (and of nothing else here).
    added = "---\ntags: [x]\n---\n" + before
    assert changed_parts(before, added, WATCHABLE) == ("frontmatter",)


def test_a_block_that_does_not_parse_compares_as_text() -> None:
    broken = "---\ndescription: [unclosed\n---\n\n# T\n\nBody.\n"
    assert changed_parts(broken, broken.replace("[unclosed", "[unclosed "), WATCHABLE) == ()
    assert changed_parts(broken, broken.replace("[unclosed", "[closed]"), WATCHABLE) == (
        "description",
        "frontmatter",
    )
    # The body is still compared on its own.
    assert changed_parts(broken, broken.replace("Body.", "Body!"), WATCHABLE) == ("body",)


def test_an_unknown_part_is_an_error() -> None:
    with pytest.raises(ValueError, match="not a watchable part"):
        changed_parts(NOTE, NOTE + "x", ("summary",))


def test_whitespace_inside_a_frontmatter_value_is_not_a_frontmatter_change() -> None:
    after = edit(NOTE, "first and last frost", "first and  last frost")
    assert changed_parts(NOTE, after, ("description",)) == ()
    assert changed_parts(NOTE, after, ("frontmatter",)) == ()


def test_a_folded_description_is_not_a_frontmatter_change() -> None:
    after = edit(
        NOTE,
        "description: Recording the first and last frost each year to plan sowing",
        "description: >\n  Recording the first and last\n  frost each year to plan sowing",
    )
    assert changed_parts(NOTE, after, ("description",)) == ()
    assert changed_parts(NOTE, after, ("frontmatter",)) == ()


def test_a_comment_in_a_code_block_is_not_the_title() -> None:
    before = "---\ndescription: d\n---\n\n```sh\n# install it\n```\n\n# Real title\n\nText.\n"
    after = edit(before, "# Real title", "# Another title")
    assert changed_parts(before, after, ("title",)) == ("title",)


def test_closing_hashes_are_not_part_of_the_title() -> None:
    before = edit(NOTE, "# Frost dates", "# Frost dates ##")
    assert changed_parts(NOTE, before, ("title",)) == ()


def test_crlf_keeps_the_title_of_a_heading_with_closing_hashes() -> None:
    before = edit(NOTE, "# Frost dates", "# Frost dates #")
    assert changed_parts(before, before.replace("\n", "\r\n"), ("title",)) == ()


# --- properties ------------------------------------------------------------------------

# Words that YAML reads as plain scalars on either layout (letters and digits only).
WORD = st.text(alphabet=st.characters(categories=("L", "Nd")), min_size=1, max_size=8)
INLINE = st.sampled_from([" ", "  ", "\t", " \t", "   "])
IN_PARAGRAPH = st.sampled_from([" ", "  ", "\t", "\n", " \n", "\n  ", "\t\n"])
BETWEEN_PARAGRAPHS = st.sampled_from(["\n\n", "\n\n\n", "\n \n", "\n\t\n\n"])


class Content:
    """What a note says, independently of its layout."""

    def __init__(
        self, description: list[str], tags: list[str], title: list[str], body: list[list[str]]
    ) -> None:
        self.description, self.tags, self.title, self.body = description, tags, title, body


CONTENT = st.builds(
    Content,
    st.lists(WORD, min_size=2, max_size=10),
    st.lists(WORD, max_size=4),
    st.lists(WORD, min_size=1, max_size=5),
    st.lists(st.lists(WORD, min_size=1, max_size=15), min_size=1, max_size=4),
)


def _join(draw: st.DrawFn, words: list[str], separators: st.SearchStrategy[str]) -> str:
    out = words[0]
    for word in words[1:]:
        out += draw(separators) + word
    return out


@st.composite
def layout(draw: st.DrawFn, content: Content) -> str:
    """The note with whitespace and YAML layout drawn at random: lines folded,
    blocks or flow lists, blank lines, trailing spaces, CRLF."""
    # A plain scalar folded over lines: each line break reads as one space.
    description = "description:" + draw(INLINE.filter(lambda s: "\t" not in s))
    first = True
    for word in content.description:
        if first:
            description += word
            first = False
        elif draw(st.booleans()):
            description += draw(st.sampled_from(["", " ", "  "])) + "\n"
            description += draw(st.sampled_from([" ", "  ", "    "])) + word
        else:
            description += " " + word
    if not content.tags:
        tags = "tags:" + draw(st.sampled_from([" []", "  [ ]", " []  "]))
    elif draw(st.booleans()):
        inside = ",".join(draw(st.sampled_from(["", " ", "  "])) + t for t in content.tags)
        tags = "tags: [" + inside + draw(st.sampled_from(["", " "])) + "]"
    else:
        indent = draw(st.sampled_from(["", "  ", "    "]))
        tags = "tags:" + "".join(f"\n{indent}- {t}" for t in content.tags)
    keys = [description, "type: kb/types/note.md", tags]
    block = "".join(key + draw(st.sampled_from(["\n", "\n\n", "  \n"])) for key in keys)
    heading = "#" + draw(INLINE) + _join(draw, content.title, INLINE)
    heading += draw(st.sampled_from(["", " ", "  ", "\t"]))
    paragraphs = [_join(draw, words, IN_PARAGRAPH) for words in content.body]
    body = draw(st.sampled_from(["", "\n", "\n\n"])) + heading + draw(BETWEEN_PARAGRAPHS)
    body += _join(draw, paragraphs, BETWEEN_PARAGRAPHS) + draw(st.sampled_from(["", "\n", "\n\n"]))
    text = "---\n" + block + "---\n" + body
    return text.replace("\n", "\r\n") if draw(st.booleans()) else text


@settings(max_examples=200)
@given(st.data(), CONTENT)
def test_whitespace_reflow_never_changes_a_part(data: st.DataObject, content: Content) -> None:
    before = data.draw(layout(content), label="before")
    after = data.draw(layout(content), label="after")
    assert changed_parts(before, after, WATCHABLE) == ()


KEY = st.text(alphabet=st.characters(categories=("L", "Nd", "P", "Zs")), min_size=1, max_size=12)
# PyYAML itself does not round-trip an escaped character followed by a space where it
# folds a double-quoted line (`"0\\_ 0"`, `"0\\xA1 0"` at width 12), so the dumps write
# Unicode as it is (`allow_unicode`) and the only space character is the plain one.
TEXT = st.text(
    alphabet=st.characters(
        exclude_categories=("Cs", "Cc", "Zl", "Zp", "Zs", "Co", "Cn"),
        exclude_characters="\ufeff",
        include_characters=" ",
    ),
    max_size=60,
)
SCALAR = st.one_of(
    TEXT, st.integers(), st.booleans(), st.none(), st.floats(allow_nan=False), st.dates()
)
VALUE = st.recursive(
    SCALAR,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEY, inner, max_size=3),
    max_leaves=10,
)
MAPPING = st.fixed_dictionaries(
    {"description": TEXT},
    optional={
        "title": TEXT,
        "type": st.just("kb/types/note.md"),
        "traits": st.lists(WORD, max_size=3),
        "tags": st.lists(TEXT, max_size=4),
        "status": st.sampled_from(["current", "seedling", "yes", "null", "2024-01-02"]),
        "extra": VALUE,
    },
)
DUMP_STYLE = st.fixed_dictionaries(
    {
        "default_flow_style": st.sampled_from([False, True, None]),
        "sort_keys": st.booleans(),
        "width": st.sampled_from([12, 40, 80, 10_000]),
        "indent": st.sampled_from([2, 3, 4]),
        "allow_unicode": st.just(True),
        "default_style": st.sampled_from([None, "'", '"']),
    }
)
BODY = "\n# A heading\n\nSome body text.\n"


def _note(block: str) -> str:
    return f"---\n{block}---\n{BODY}"


@settings(max_examples=150)
@given(MAPPING, DUMP_STYLE, DUMP_STYLE)
def test_reformatting_yaml_never_changes_frontmatter_or_description(
    mapping: dict[str, Any], written: dict[str, Any], reformatted: dict[str, Any]
) -> None:
    block = yaml.safe_dump(mapping, **written)
    # Only blocks that stay one frontmatter block (no value line reads as `---`).
    assume(frontmatter.split(_note(block))[0] == block)
    parsed = frontmatter.parse(block)
    again = yaml.safe_dump(parsed, **reformatted)
    assume(frontmatter.split(_note(again))[0] == again)
    assert changed_parts(_note(block), _note(again), ("frontmatter", "description")) == ()
    assert changed_parts(_note(block), _note(again), WATCHABLE) == ()


@settings(max_examples=200)
@given(st.data(), CONTENT, WORD)
def test_a_real_word_change_in_the_body_is_always_seen(
    data: st.DataObject, content: Content, replacement: str
) -> None:
    before = data.draw(layout(content), label="before")
    paragraph = data.draw(st.integers(0, len(content.body) - 1), label="paragraph")
    words = content.body[paragraph]
    index = data.draw(st.integers(0, len(words) - 1), label="word")
    assume(words[index] != replacement)
    changed = Content(
        content.description,
        content.tags,
        content.title,
        [
            [replacement if (p, i) == (paragraph, index) else w for i, w in enumerate(ws)]
            for p, ws in enumerate(content.body)
        ],
    )
    # Even with every bit of whitespace laid out anew.
    after = data.draw(layout(changed), label="after")
    assert changed_parts(before, after, ("body",)) == ("body",)
    assert changed_parts(before, after, WATCHABLE) == ("body",)
    assert changed_parts(before, after, ("title", "description", "frontmatter")) == ()
