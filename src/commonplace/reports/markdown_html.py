"""Markdown written by reviewers, as safe HTML: a small subset, standard
library only.

Paragraphs, `*emphasis*`, `**strong**`, `code spans`, fenced code, lists,
block quotes, headings (shifted down, so a review's `###` sits below the
page's own headings), rules and links. Every other character is escaped, so
raw HTML in a review shows as text. Links keep only http, https and relative
targets; anything else (`javascript:`, `data:`, a `//host`) is shown as its
text. Each tag is opened and closed by the same call, so the output is
balanced whatever the input; the tags and attributes are those of `TAGS`.

Searches for closing delimiters use positions found once per span of text,
so hostile input (thousands of unmatched `*` or backticks) stays linear-ish.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from html import escape

TAGS = frozenset(
    {"p", "em", "strong", "code", "pre", "ul", "ol", "li", "blockquote", "hr", "a"}
    | {"h3", "h4", "h5", "h6"}
)
ATTRIBUTES = {"a": frozenset({"href", "rel"})}
REL = "nofollow noopener noreferrer"
MAX_DEPTH = 8  # nested quotes and lists beyond this are shown as text
MAX_CHARS = 40_000  # longer text is cut, with a note saying so

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*#*[ \t]*$")
_RULE = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_ITEM = re.compile(r"^( {0,3})([-*+]|\d{1,9}[.)])([ \t]+|$)(.*)$")
_QUOTE = re.compile(r"^ {0,3}> ?(.*)$")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_SPECIAL = re.compile(r"[`*_\[\\]")
_PUNCT = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


def render(text: str, *, heading_level: int = 4) -> str:
    """The HTML of `text`; its `#` headings start at `heading_level` (3-6)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\0", "\ufffd")
    cut = len(text) - MAX_CHARS
    if cut > 0:
        text = text[:MAX_CHARS]
    html = _blocks(text.split("\n"), max(3, min(6, heading_level)), 0)
    if cut > 0:
        html += f"<p><em>({cut:,} more characters not shown)</em></p>"
    return html


def safe_url(url: str) -> str | None:
    """`url` if it is http, https or relative (not `//host`), else None."""
    url = url.strip()
    if not url or any(ord(c) <= 0x20 or c in "\x7f\\" for c in url):
        return None  # browsers drop tabs and newlines, so `java\tscript:` is a scheme
    scheme = _SCHEME.match(url)
    if scheme is not None:
        return url if scheme.group(1).lower() in ("http", "https") else None
    if url.startswith("//"):
        return None
    head = re.split(r"[/?#]", url, maxsplit=1)[0]
    return None if ":" in head else url


# --- blocks ------------------------------------------------------------------------------


def _blocks(lines: list[str], level: int, depth: int) -> str:
    out: list[str] = []
    para: list[str] = []

    def flush() -> None:
        if para:
            out.append(f"<p>{_inline(chr(10).join(s.strip() for s in para))}</p>")
            para.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            flush()
            i += 1
            continue
        fence = _FENCE.match(line)
        if fence and not ("`" in fence.group(2) and fence.group(1)[0] == "`"):
            flush()
            mark, body = fence.group(1), []
            i += 1
            while i < len(lines) and not _closes(lines[i], mark):
                body.append(lines[i])
                i += 1
            i += 1  # the closing fence, or the end
            code = escape("\n".join(body) + ("\n" if body else ""), quote=False)
            out.append(f"<pre><code>{code}</code></pre>")
            continue
        heading = _HEADING.match(line)
        if heading:
            flush()
            h = min(6, level + len(heading.group(1)) - 1)
            out.append(f"<h{h}>{_inline(heading.group(2) or '')}</h{h}>")
            i += 1
            continue
        if _RULE.match(line):
            flush()
            out.append("<hr>")
            i += 1
            continue
        if depth < MAX_DEPTH and _QUOTE.match(line):
            flush()
            quoted = []
            while i < len(lines) and (m := _QUOTE.match(lines[i])):
                quoted.append(m.group(1))
                i += 1
            out.append(f"<blockquote>{_blocks(quoted, level, depth + 1)}</blockquote>")
            continue
        item = _ITEM.match(line)
        if depth < MAX_DEPTH and item and (not para or item.group(4).strip()):
            flush()
            html, i = _list(lines, i, level, depth)
            out.append(html)
            continue
        para.append(line)
        i += 1
    flush()
    return "".join(out)


def _closes(line: str, mark: str) -> bool:
    stripped = line.strip()
    return len(line) - len(line.lstrip(" ")) <= 3 and (
        len(stripped) >= len(mark) and set(stripped) == {mark[0]}
    )


def _list(lines: list[str], i: int, level: int, depth: int) -> tuple[str, int]:
    """One list from line `i`: items of the same kind, each with the lines
    indented under it; returns its HTML and the line after it."""
    first = _ITEM.match(lines[i])
    assert first is not None
    ordered = first.group(2)[-1] in ".)"
    items: list[list[str]] = []
    while i < len(lines):
        m = _ITEM.match(lines[i])
        if m is None or (m.group(2)[-1] in ".)") != ordered:
            break
        width = len(m.group(1)) + len(m.group(2)) + max(1, len(m.group(3)))
        body = [m.group(4)]
        i += 1
        while i < len(lines):
            line = lines[i]
            indent = len(line) - len(line.lstrip(" "))
            if line.strip() and indent >= min(width, 4):
                body.append(line[min(width, indent) :])
            elif not line.strip() and i + 1 < len(lines) and lines[i + 1].startswith(" " * 2):
                body.append("")
            else:
                break
            i += 1
        items.append(body)
    tag = "ol" if ordered else "ul"
    rendered = "".join(f"<li>{_item(body, level, depth)}</li>" for body in items)
    return f"<{tag}>{rendered}</{tag}>", i


def _item(body: list[str], level: int, depth: int) -> str:
    html = _blocks(body, level, depth + 1)
    # a one-paragraph item reads better without its <p>
    if html.startswith("<p>") and html.endswith("</p>") and html.count("<p>") == 1:
        return html[3:-4]
    return html


# --- inline ------------------------------------------------------------------------------

_EMPHASIS = (("**", "strong"), ("__", "strong"), ("*", "em"), ("_", "em"))


class _Spans:
    """Where each delimiter occurs in one paragraph, found once."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.ticks: dict[int, list[int]] = {}
        for m in re.finditer(r"`+", text) if "`" in text else ():
            self.ticks.setdefault(len(m.group()), []).append(m.start())
        self.closers: dict[str, list[int]] = {}
        for delim, _ in _EMPHASIS:
            if delim not in text:
                self.closers[delim] = []
                continue
            # a closer follows a character that is not a space; a single `*`
            # is never half of a `**`
            single = "(?<!{0})" + re.escape(delim) + "(?!{0})" if len(delim) == 1 else ""
            pattern = single.format(re.escape(delim)) if single else re.escape(delim)
            found = (m.start() for m in re.finditer(pattern, text))
            self.closers[delim] = [p for p in found if p > 0 and not text[p - 1].isspace()]
        self.link_mids = [m.start() for m in re.finditer(r"\]\(", text)]
        self.parens = [m.start() for m in re.finditer(r"\)", text)]

    @staticmethod
    def next(positions: list[int], start: int, end: int) -> int | None:
        k = bisect_left(positions, start)
        return positions[k] if k < len(positions) and positions[k] < end else None


def _inline(text: str) -> str:
    if not _SPECIAL.search(text):
        return escape(text)  # most text: nothing to find
    spans = _Spans(text)
    return _span(spans, 0, len(text), links=True)


def _span(spans: _Spans, lo: int, hi: int, *, links: bool) -> str:
    s, out, i = spans.text, [], lo
    plain = lo  # start of the text not yet written
    while i < hi:
        c = s[i]
        html: str | None = None
        after = i + 1
        if c == "\\" and i + 1 < hi and s[i + 1] in _PUNCT:
            html, after = escape(s[i + 1]), i + 2
        elif c == "`":
            run = _run(s, i, hi)
            close = _tick_close(spans, run, i + run, hi)
            if close is None:
                html, after = escape(s[i : i + run]), i + run
            else:
                code = s[i + run : close]
                if code.strip() and code[0] == " " and code[-1] == " ":
                    code = code[1:-1]
                html, after = f"<code>{escape(code)}</code>", close + run
        elif c in "*_":
            html, after = _emphasis(spans, i, hi, links=links)
        elif c == "[" and links:
            html, after = _link(spans, i, hi)
        elif c == "!" and links and i + 1 < hi and s[i + 1] == "[":
            found = _link(spans, i + 1, hi, image=True)
            if found[0] is not None:
                html, after = found
        if html is None:
            i = after
            continue
        out.append(escape(s[plain:i]))
        out.append(html)
        i = plain = after
    out.append(escape(s[plain:hi]))
    return "".join(out)


def _tick_close(spans: _Spans, run: int, start: int, hi: int) -> int | None:
    positions = spans.ticks.get(run, [])
    k = bisect_left(positions, start)
    while k < len(positions) and positions[k] < hi:
        p = positions[k]
        # a run of exactly `run` backticks: the finditer runs are maximal
        if p + run <= hi:
            return p
        k += 1
    return None


def _emphasis(spans: _Spans, i: int, hi: int, *, links: bool) -> tuple[str | None, int]:
    s = spans.text
    for delim, tag in _EMPHASIS:
        n = len(delim)
        if s[i : i + n] != delim or i + n >= hi or s[i + n].isspace():
            continue
        if delim[0] == "_" and i > 0 and s[i - 1].isalnum():
            continue  # snake_case words are not emphasis
        close = _Spans.next(spans.closers[delim], i + n + 1, hi)
        if close is None or close + n > hi:
            continue
        inner = _span(spans, i + n, close, links=links)
        return f"<{tag}>{inner}</{tag}>", close + n
    run = _run(s, i, hi)
    return escape(s[i : i + run]), i + run


def _run(s: str, i: int, hi: int) -> int:
    """How many times `s[i]` repeats from `i` (without copying the text)."""
    j = i
    while j < hi and s[j] == s[i]:
        j += 1
    return j - i


def _link(spans: _Spans, i: int, hi: int, *, image: bool = False) -> tuple[str | None, int]:
    """`[text](url)` from `i` (the `[`); an image shows its text only."""
    mid = _Spans.next(spans.link_mids, i + 1, hi)
    if mid is None:
        return None, i + 1
    end = _Spans.next(spans.parens, mid + 2, hi)
    # a target may hold balanced parentheses: (a_(b)) ends at the second `)`
    for _ in range(4):  # a few levels, so hostile nesting stays cheap
        if end is None or spans.text.count("(", mid + 2, end) <= spans.text.count(
            ")", mid + 2, end
        ):
            break
        end = _Spans.next(spans.parens, end + 1, hi)
    if end is None:
        return None, i + 1
    parts = spans.text[mid + 2 : end].split(maxsplit=1)
    titled = len(parts) == 2 and parts[1][0] in "\"'("
    url = safe_url(parts[0]) if len(parts) == 1 or titled else None
    text = _span(spans, i + 1, mid, links=False)
    if image or url is None:
        return text, end + 1
    return f'<a href="{escape(url, quote=True)}" rel="{REL}">{text}</a>', end + 1
