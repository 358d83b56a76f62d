"""The safe Markdown renderer of reviewers' text (`reports/markdown_html`):
what each construct becomes, and, for any input at all, only allowlisted
tags and attributes, balanced, with no script, no event handler and no link
but http, https or relative."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commonplace.reports.markdown_html import ATTRIBUTES, MAX_CHARS, TAGS, render, safe_url

VOID = {"hr"}


class Checked(HTMLParser):
    """Every tag and attribute of a fragment, and whether they balance."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str, str]] = []
        self.stack: list[str] = []
        self.balanced = True
        self.text: list[str] = []
        self.feed(html)
        self.close()
        self.balanced = self.balanced and not self.stack

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += [(tag, k, v or "") for k, v in attrs]
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.balanced = False  # the renderer never writes `<x/>`

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.balanced = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def unknown_decl(self, data: str) -> None:
        self.balanced = False

    def handle_comment(self, data: str) -> None:
        self.balanced = False


def assert_safe(html: str) -> Checked:
    checked = Checked(html)
    assert checked.balanced, html
    assert set(checked.tags) <= TAGS, html
    for tag, name, value in checked.attrs:
        assert name in ATTRIBUTES.get(tag, ()), html
        assert not name.startswith("on")
        if name == "href":
            assert safe_url(value) == value
    assert "<script" not in html.lower()
    return checked


# Text that leans on every construct and on the HTML around it.
PIECES = [
    "*", "**", "_", "__", "`", "```", "~~~", "[", "]", "(", ")", "](", "!", "\\", "#", "# ",
    "> ", "- ", "1. ", "  ", "\n", "\n\n", "<", ">", "&", '"', "'", "=", "<script>", "</p>",
    "<a href=x onclick=y>", "javascript:", "JaVaScRiPt:", "data:", "http://a.b/", "//evil",
    "&#106;", "\t", "\x00", "word", "x y", "é", "---",
]  # fmt: skip
markdownish = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=5)), max_size=60).map(
    "".join
)


@settings(max_examples=400, deadline=None)
@given(markdownish)
def test_any_input_gives_only_allowlisted_balanced_markup(text: str) -> None:
    assert_safe(render(text))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200), st.integers(min_value=-3, max_value=12))
def test_any_text_at_any_heading_level_is_safe(text: str, level: int) -> None:
    assert_safe(render(text, heading_level=level))


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_every_character_of_plain_text_survives(word: str) -> None:
    """Text without Markdown punctuation comes back whole, escaped."""
    plain = "".join(c for c in word if c.isalnum() or c == " ").strip()
    if plain:
        assert "".join(Checked(render(plain)).text) == plain


@pytest.mark.parametrize(
    ("source", "html"),
    [
        ("a *b* **c** `d`", "<p>a <em>b</em> <strong>c</strong> <code>d</code></p>"),
        ("snake_case_name", "<p>snake_case_name</p>"),
        ("2 * 3 * 4", "<p>2 * 3 * 4</p>"),
        ("*a **b** c*", "<p><em>a <strong>b</strong> c</em></p>"),
        ("`<b>` and \\*x\\*", "<p><code>&lt;b&gt;</code> and *x*</p>"),
        ("# Title", "<h4>Title</h4>"),
        ("### Summary", "<h6>Summary</h6>"),
        ("- a\n- b", "<ul><li>a</li><li>b</li></ul>"),
        ("1. a\n2. b", "<ol><li>a</li><li>b</li></ol>"),
        ("- a\n  - b", "<ul><li><p>a</p><ul><li>b</li></ul></li></ul>"),
        ("> quoted\n> more", "<blockquote><p>quoted\nmore</p></blockquote>"),
        ("```py\nx = '<i>'\n```", "<pre><code>x = '&lt;i&gt;'\n</code></pre>"),
        ("one\n\ntwo", "<p>one</p><p>two</p>"),
        ("---", "<hr>"),
        (
            "[doc](https://example.org/a_(b))",
            '<p><a href="https://example.org/a_(b)" rel="nofollow noopener noreferrer">doc</a></p>',
        ),
        (
            "[n](../notes/x.md#h)",
            '<p><a href="../notes/x.md#h" rel="nofollow noopener noreferrer">n</a></p>',
        ),
        ("![alt](https://x.org/i.png)", "<p>alt</p>"),
    ],
)
def test_each_construct(source: str, html: str) -> None:
    assert render(source) == html
    assert_safe(html)


@pytest.mark.parametrize(
    "source",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        "[x](javascript:alert(1))",
        "[x](JAVASCRIPT:alert(1))",
        "[x](java\tscript:alert(1))",
        "[x]( javascript:alert(1))",
        "[x](data:text/html;base64,PHNjcmlwdD4=)",
        "[x](vbscript:msgbox)",
        "[x](//evil.example/)",
        "[x](\\\\evil.example/)",
        '[x](https://a.b/" onclick="alert(1))',
        "<a href='javascript:alert(1)'>x</a>",
        "```\n</code></pre><script>alert(1)</script>\n```",
        "`</code><script>`",
        "<!-- hidden --> <![CDATA[x]]>",
    ],
)
def test_hostile_text_is_inert(source: str) -> None:
    html = render(source)
    checked = assert_safe(html)
    assert not any(v.lower().lstrip().startswith(("javascript", "data", "vbscript", "//"))
                   for _, _, v in checked.attrs)  # fmt: skip
    assert "onclick=" not in "".join(v for _, _, v in checked.attrs)
    assert "onerror=" not in "".join(v for _, _, v in checked.attrs)


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://github.com/o/r/blob/main/a.md", True),
        ("http://x.org", True),
        ("notes/a.md", True),
        ("../a.md?x=1#y", True),
        ("#anchor", True),
        ("javascript:alert(1)", False),
        ("mailto:a@b.c", False),
        ("data:,x", False),
        ("//host/x", False),
        ("a b", False),
        ("a:b/c", False),
        ("", False),
    ],
)
def test_safe_url(url: str, kept: bool) -> None:
    assert (safe_url(url) == url) is kept


@pytest.mark.parametrize(
    "hostile", ["*" * 60_000, "`" * 60_000, "` " * 30_000, "[a](" * 15_000, "_a " * 20_000]
)
def test_hostile_sizes_render_quickly_and_are_cut(hostile: str) -> None:
    """Unmatched delimiters by the thousand render (a quadratic renderer
    would take minutes here), safely, and long text is cut."""
    html = render(hostile)
    assert_safe(html)
    assert "more characters not shown" in html
    assert len(html) < MAX_CHARS * 8
