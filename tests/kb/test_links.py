"""A note's Markdown links, resolved to KB keys before a reviewer sees them."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.kb import CORPUS, require_shared

from commonplace.kb.links import NoteLinks, note_links
from commonplace.kb.paths import is_canonical

NOTE = "kb/notes/here.md"
FILES = (
    "kb/notes/here.md",
    "kb/notes/a.md",
    "kb/notes/b.md",
    "kb/notes/my note.md",
    "kb/notes/sub/deep.md",
    "kb/reference/ref.md",
    "top.md",
)


@pytest.fixture
def kb(tmp_path: Path) -> Path:
    root = tmp_path / "kb-root"
    for key in FILES:
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_text("---\ntype: note\n---\n# x\n", encoding="utf-8")
    (root / "kb/notes/folder.md").mkdir()
    (tmp_path / "outside.md").write_text("# outside the KB\n", encoding="utf-8")
    return root


def keys(links: NoteLinks) -> list[str]:
    return [key for _, key in links.resolved]


# -- resolving -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("note_key", "target", "key"),
    [
        (NOTE, "a.md", "kb/notes/a.md"),
        (NOTE, "./a.md", "kb/notes/a.md"),
        (NOTE, "sub/deep.md", "kb/notes/sub/deep.md"),
        (NOTE, "../reference/ref.md", "kb/reference/ref.md"),
        (NOTE, "../../top.md", "top.md"),
        (NOTE, "sub/../b.md", "kb/notes/b.md"),
        (NOTE, "here.md", "kb/notes/here.md"),
        (NOTE, "my%20note.md", "kb/notes/my note.md"),
        ("kb/notes/sub/deep.md", "../a.md", "kb/notes/a.md"),
        ("kb/notes/sub/deep.md", "../../reference/ref.md", "kb/reference/ref.md"),
        ("top.md", "kb/notes/a.md", "kb/notes/a.md"),
    ],
)
def test_relative_links_resolve_to_kb_keys(kb: Path, note_key: str, target: str, key: str) -> None:
    links = note_links(kb, note_key, f"See [the target]({target}) for more.\n")
    assert links == NoteLinks(((target, key),), ())


@pytest.mark.parametrize(
    "link",
    [
        "[a](a.md#section)",
        "[a](a.md#)",
        "[a](a.md?plain=1)",
        '[a](a.md "A title")',
        "[a](a.md 'A title')",
        "[a](a.md (A title))",
        "[a](<a.md>)",
        "[a]( a.md)",
        "![image alt](a.md)",
        "[a **bold** label](a.md)",
    ],
)
def test_link_forms(kb: Path, link: str) -> None:
    assert keys(note_links(kb, NOTE, f"Text {link} text.\n")) == ["kb/notes/a.md"]


@pytest.mark.parametrize("link", ["[a](a.md )", "[a]( a.md )", "[a](<a.md> )"])
def test_spaces_after_the_destination(kb: Path, link: str) -> None:
    assert keys(note_links(kb, NOTE, f"Text {link} text.\n")) == ["kb/notes/a.md"]


def test_fragment_is_stripped_for_resolving_and_kept_in_the_raw_target(kb: Path) -> None:
    links = note_links(kb, NOTE, "[x](../reference/ref.md#heading-two)\n")
    assert links.resolved == (("../reference/ref.md#heading-two", "kb/reference/ref.md"),)


def test_several_links_on_one_line_and_across_lines(kb: Path) -> None:
    text = "[1](a.md) and [2](b.md), then\n\n- [3](sub/deep.md)\n> [4](../reference/ref.md)\n"
    assert keys(note_links(kb, NOTE, text)) == [
        "kb/notes/a.md",
        "kb/notes/b.md",
        "kb/notes/sub/deep.md",
        "kb/reference/ref.md",
    ]


def test_duplicates_are_removed_in_first_seen_order(kb: Path) -> None:
    text = "[b](b.md) [a](a.md) [b again](b.md)\n[gone](x.md) [a](a.md) [y](y.md) [gone](x.md)\n"
    links = note_links(kb, NOTE, text)
    assert links.resolved == (("b.md", "kb/notes/b.md"), ("a.md", "kb/notes/a.md"))
    assert links.unresolved == ("x.md", "y.md")


def test_one_file_linked_several_ways_is_listed_once(kb: Path) -> None:
    text = "[x](a.md#one) [y](a.md#two) [z](./a.md) [w](a.md) [v](sub/../a.md)\n"
    assert keys(note_links(kb, NOTE, text)) == ["kb/notes/a.md"]


# -- ignored targets ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "https://example.com/a.md",
        "http://example.com/notes/a.md",
        "file:///etc/a.md",
        "mailto:someone@example.com",
        "ftp://host/a.md",
        "#an-anchor",
        "#a.md",
        "/kb/notes/a.md",
        "/etc/passwd",
        "a.txt",
        "image.png",
        "a.md.bak",
        "a.markdown",
        "sub/",
        "../reference",
    ],
)
def test_non_markdown_and_external_targets_are_ignored(kb: Path, target: str) -> None:
    assert note_links(kb, NOTE, f"A [link]({target}) here.\n") == NoteLinks((), ())


@pytest.mark.parametrize(
    "text",
    [
        "```\n[a](a.md)\n```\n",
        "```markdown\n[a](a.md)\n```\n",
        "~~~\n[a](a.md)\n~~~\n",
        "  ```\n  [a](a.md)\n  ```\n",
        "````\n```\n[a](a.md)\n```\n````\n",
        "~~~\n```\n[a](a.md)\n~~~\n",
        "```\nnever closed\n\n[a](a.md)\n",
        "`[a](a.md)`\n",
        "Some `[a](a.md)` code.\n",
        "Some ``[a](a.md) with ` inside`` code.\n",
        "Text ```[a](a.md)``` text.\n",
        "<!-- a comment, then code: --> `x [a](a.md) y`\n",
    ],
)
def test_links_in_code_are_ignored(kb: Path, text: str) -> None:
    assert note_links(kb, NOTE, text) == NoteLinks((), ())


def test_links_after_a_closed_fence_count(kb: Path) -> None:
    text = "```\n[a](a.md)\n```\n\n[b](b.md)\n~~~\n[c](c.md)\n~~~\n[d](missing.md)\n"
    links = note_links(kb, NOTE, text)
    assert links == NoteLinks((("b.md", "kb/notes/b.md"),), ("missing.md",))


def test_a_shorter_fence_does_not_close_a_longer_one(kb: Path) -> None:
    text = "````\n```\n[a](a.md)\n````\n[b](b.md)\n"
    assert keys(note_links(kb, NOTE, text)) == ["kb/notes/b.md"]


def test_code_spans_do_not_hide_the_rest_of_the_line(kb: Path) -> None:
    text = "Use `code` then [a](a.md), `more [x](x.md)` and [b](b.md).\n"
    assert keys(note_links(kb, NOTE, text)) == ["kb/notes/a.md", "kb/notes/b.md"]


def test_an_unclosed_backtick_is_literal_text(kb: Path) -> None:
    assert keys(note_links(kb, NOTE, "A stray ` then [a](a.md).\n")) == ["kb/notes/a.md"]


def test_links_in_frontmatter_are_ignored(kb: Path) -> None:
    text = (
        "---\ndescription: see [a](a.md)\nrelated:\n  - '[b](b.md)'\n---\n"
        "# Body\n\nOnly [ref](../reference/ref.md) counts.\n"
    )
    assert keys(note_links(kb, NOTE, text)) == ["kb/reference/ref.md"]


def test_a_frontmatter_like_block_later_in_the_body_is_body(kb: Path) -> None:
    text = "# Title\n\n---\n[a](a.md)\n---\n"
    assert keys(note_links(kb, NOTE, text)) == ["kb/notes/a.md"]


# -- unresolved ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "missing.md",
        "sub/missing.md",
        "folder.md",  # a directory, not a file
        "../../../outside.md",  # exists, but beyond the KB root
        "../../../../../../../../etc/passwd.md",
        "../../../kb-root/kb/notes/a.md",  # leaves the root and comes back by name
        "A.MD.md",
    ],
)
def test_missing_or_escaping_targets_are_unresolved(kb: Path, target: str) -> None:
    assert note_links(kb, NOTE, f"[x]({target})\n") == NoteLinks((), (target,))


def test_resolved_keys_are_canonical_and_exist(kb: Path) -> None:
    text = "[a](./sub/../a.md) [r](../../kb/reference/./ref.md) [t](../../top.md)\n"
    links = note_links(kb, NOTE, text)
    assert keys(links) == ["kb/notes/a.md", "kb/reference/ref.md", "top.md"]
    assert all(is_canonical(key) and (kb / key).is_file() for key in keys(links))


def test_a_note_without_links(kb: Path) -> None:
    text = "---\ntype: note\n---\n# Nothing\n\nJust [brackets] and (parentheses).\n"
    assert note_links(kb, NOTE, text) == NoteLinks((), ())


def test_crlf_text(kb: Path) -> None:
    text = "---\r\ntype: note\r\n---\r\n```\r\n[x](x.md)\r\n```\r\n[a](a.md)\r\n"
    assert note_links(kb, NOTE, text) == NoteLinks((("a.md", "kb/notes/a.md"),), ())


# -- the corpus --------------------------------------------------------------------------

LINK_RICH_NOTE = "kb/notes/llm-interpretation-errors-README.md"


def test_a_corpus_note_with_many_links_resolves_them_all() -> None:
    root = require_shared(CORPUS)
    links = note_links(root, LINK_RICH_NOTE, (root / LINK_RICH_NOTE).read_text("utf-8"))
    assert len(links.resolved) >= 15
    assert links.unresolved == ()
    assert len(set(keys(links))) == len(links.resolved)
    for raw, key in links.resolved:
        assert is_canonical(key)
        assert (root / key).is_file(), raw
        assert (root / LINK_RICH_NOTE).parent.joinpath(raw.split("#")[0]).resolve() == (
            root / key
        ).resolve()


def test_corpus_links_to_the_missing_sibling_collection_are_unresolved() -> None:
    root = require_shared(CORPUS)
    note_key = "kb/notes/tags-README.md"
    links = note_links(root, note_key, (root / note_key).read_text("utf-8"))
    assert links.unresolved == ("../agent-memory-systems/README.md",)
    assert len(links.resolved) > 20
