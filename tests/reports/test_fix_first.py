"""The "fix first" views (HTML panel, `--format markdown` without `--note`,
`fix_first` in `--json`): a copy of the corpus reviewed by a deterministic
command reviewer that fails and warns some pairs, through the real sweep;
the order expected is computed here from what the reviewer said, not from
the store. Plus the links (relative to the report, or through a repository
URL) and hostile review text shown inert."""

from __future__ import annotations

import json
import re
import shutil
import sys
from collections import Counter
from pathlib import Path
from urllib.parse import unquote

import pytest
from helpers.browser import Parsed, browse
from helpers.cli import assert_refused
from helpers.kb import CORPUS, git, make_git_kb, require_shared
from helpers.reviewed_corpus import isolated, run_command

from commonplace.config import config_from
from commonplace.errors import UserError
from commonplace.reports.links import Links, links_for
from commonplace.reports.markdown_html import safe_url

MODEL = "judge-model"
FOLDER = "kb/notes/agent-memory-requirements"
LENSES = ("frontmatter", "sentence")
REPO_URL = "https://github.com/org/repo/blob/main/"

# The reviewer: FAIL, WARN or PASS from a hash of the pair, a Markdown
# suggested revision with hostile bits in it, each verdict logged.
JUDGE = r"""
import hashlib, json, os, sys

def verdict(note, gate):
    n = hashlib.sha256(f"{note}::{gate}".encode()).digest()[0] % 5
    return "FAIL" if n < 2 else "WARN" if n == 2 else "PASS"

prompt = sys.stdin.read()
section = prompt.rpartition("\n## Requested pairs\n")[2].split("\n## ", 1)[0]
pairs = [tuple(l[2:].split(" :: ", 1)) for l in section.splitlines()
         if l.startswith("- ") and " :: " in l]
token = ""
for line in prompt.rpartition("\n## Output\n")[2].splitlines():
    if line.startswith("Boundary token: `"):
        token = line[len("Boundary token: `"):].partition("`")[0]
mark = f" {token}:" if token else ":"
out = ["I reviewed the requested pairs.\n"]
with open(sys.argv[1], "a", encoding="utf-8") as log:
    for note, gate in pairs:
        decision = verdict(note, gate)
        log.write(f"{note}\t{gate}\t{decision}\n")
        body = f"### Summary\nJudged {note} against {gate}.\n\n### Findings\n"
        if decision == "PASS":
            body += "- none\n"
        else:
            body += (f"- {decision}: the *claim* in `{gate}` <b>overreaches</b>\n\n"
                     "### Suggested Revision\n"
                     "Rewrite **the title** as a claim:\n\n- keep `the scope`\n"
                     "- drop <script>alert(1)</script>\n\n"
                     "[see this](javascript:alert(1)) or [the guide](https://example.org/g)\n")
        body += f"\n## Result: {decision}\n"
        key = f"{note} :: {gate}"
        out.append(f"=== PAIR REVIEW START{mark} {key} ===\n{body}"
                   f"=== PAIR REVIEW END{mark} {key} ===\n")
with open(os.environ["COMMONPLACE_TELEMETRY_FILE"], "w", encoding="utf-8") as t:
    json.dump({"model": "judge-model", "cost_usd": 0.01,
               "tokens": {"input": 100, "output": 20}}, t)
print("\n".join(out))
"""


@pytest.fixture(scope="module")
def judged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[str, str, str]]]:
    """The corpus, its FOLDER swept by the judge; and the judge's verdicts."""
    with isolated(tmp_path_factory):
        base = tmp_path_factory.mktemp("fix-first")
        kb = make_git_kb(require_shared(CORPUS), base / "corpus-kb")
        log = base / "verdicts.tsv"
        (kb / "tools").mkdir(exist_ok=True)
        (kb / "tools/judge.py").write_text(JUDGE, encoding="utf-8")
        with (kb / "commonplace.toml").open("a", encoding="utf-8") as toml:
            toml.write(
                f"\n[runners.judge]\ncommand = {json.dumps([sys.executable, 'tools/judge.py'])}"
                f"\nextra_args = [{json.dumps(str(log))}]\n"
            )
        git(kb, "add", "-A")
        git(kb, "commit", "-q", "-m", "the judge")
        done = run_command(
            "review-sweep",
            *LENSES,
            *("--note", FOLDER, "--runner", "judge", "--model", MODEL, "--json"),
            cwd=kb,
        )
        assert done.code == 0, done.err
        verdicts = [
            (n, g, d) for n, g, d in (line.split("\t") for line in log.read_text().splitlines())
        ]
    return kb, verdicts


def expected_order(verdicts: list[tuple[str, str, str]]) -> list[str]:
    fails = Counter(n for n, _, d in verdicts if d == "FAIL")
    warns = Counter(n for n, _, d in verdicts if d == "WARN")
    return sorted(set(fails) | set(warns), key=lambda n: (-fails[n], -warns[n], n))


def report(kb: Path, *args: str) -> str:
    done = run_command("review-report", "--model", MODEL, *args, cwd=kb)
    assert done.code == 0, done.err
    return done.out


def panel(html: str) -> str:
    start = html.index('<section class="panel" id="fix-first"')
    return html[start : html.index("</section>", start)]


def note_blocks(section: str) -> list[tuple[str, str]]:
    """(note, its HTML) of each fix-first note, in page order."""
    parts = re.split(r'(?=<li class="fix-note" data-note=")', section)[1:]
    return [(re.match(r'<li class="fix-note" data-note="([^"]*)"', p)[1], p) for p in parts]  # type: ignore[index]


def test_the_html_lists_failing_notes_in_order_with_revisions_rendered(
    judged: tuple[Path, list[tuple[str, str, str]]], tmp_path: Path
) -> None:
    kb, verdicts = judged
    assert {d for _, _, d in verdicts} == {"FAIL", "WARN", "PASS"}  # the test can fail
    out = tmp_path / "out" / "report.html"
    report(kb, "--format", "html", "--out", str(out))
    html = out.read_text(encoding="utf-8")
    # the summary and the cost come before the fix-first view, which comes before the matrix
    assert html.index('id="cost"') < html.index('id="fix-first"') < html.index('id="matrix"')
    blocks = note_blocks(panel(html))
    order = expected_order(verdicts)
    assert [note for note, _ in blocks] == order
    for note, block in blocks:
        mine = sorted((d.lower(), g) for n, g, d in verdicts if n == note and d in ("FAIL", "WARN"))
        items = re.findall(r'<li class="fix-item" data-gate="([^"]*)" data-decision="(\w+)"', block)
        assert items == [(g, d) for d, g in mine]  # fails first, then warns, by gate
        assert f'data-fails="{sum(d == "fail" for d, _ in mine)}"' in block
        # each suggested revision, rendered; its hostile bits inert
        revisions = re.findall(r'<div class="fix-revision">(.*?)</div></div>', block)
        assert len(revisions) == len(items)
        for revision in revisions:
            assert "<strong>the title</strong>" in revision
            assert "<li>keep <code>the scope</code></li>" in revision
            assert "drop &lt;script&gt;alert(1)&lt;/script&gt;" in revision
            assert "see this" in revision and "javascript" not in revision
            assert '<a href="https://example.org/g" rel="nofollow noopener noreferrer">' in revision
        assert "<em>claim</em>" in block and "&lt;b&gt;overreaches&lt;/b&gt;" in block
        # links to the note and gate files, relative to the report's folder
        hrefs = re.findall(r'href="([^"]*)"', block)
        assert f"../../corpus-kb/{note}" not in hrefs  # not from the KB root...
        for href in hrefs:
            if href.startswith("https://"):
                continue
            assert (out.parent / unquote(href)).resolve().is_file(), href
    assert html.count("<script") == 2  # the report's own, and its data block


def test_gates_are_ordered_by_fail_rate(judged: tuple[Path, list[tuple[str, str, str]]]) -> None:
    kb, verdicts = judged
    payload = json.loads(report(kb, "--json"))
    reviewed = Counter(g for _, g, _ in verdicts)
    fails = Counter(g for _, g, d in verdicts if d == "FAIL")
    warns = Counter(g for _, g, d in verdicts if d == "WARN")
    expected = sorted(
        set(fails) | set(warns),
        key=lambda g: (-fails[g] / reviewed[g], -warns[g] / reviewed[g], g),
    )
    gates = payload["fix_first"]["gates"]
    assert [g["gate_id"] for g in gates] == expected
    assert [(g["reviewed"], g["fails"], g["warns"]) for g in gates] == [
        (reviewed[g], fails[g], warns[g]) for g in expected
    ]
    notes = payload["fix_first"]["notes"]
    assert [n["note_path"] for n in notes] == expected_order(verdicts)
    assert all(i["suggested_revision"].startswith("Rewrite **the title**") for n in notes
               for i in n["items"])  # fmt: skip
    assert payload["fix_first"]["more_notes"] == 0


def test_the_markdown_report_of_every_note_is_the_fix_first_order(
    judged: tuple[Path, list[tuple[str, str, str]]],
) -> None:
    kb, verdicts = judged
    text = report(kb, "--format", "markdown", "--repository-url", REPO_URL)
    listed = re.findall(r"^\d+\. \[`([^`]*)`\]\(([^)]*)\)", text, flags=re.M)
    order = expected_order(verdicts)
    assert [n for n, _ in listed] == order
    assert [url for _, url in listed] == [REPO_URL + n for n in order]
    assert text.count("#### Suggested revision") == sum(d != "PASS" for _, _, d in verdicts)
    assert "## Gates by fail rate" in text


def test_links_go_through_the_configured_repository_url(
    judged: tuple[Path, list[tuple[str, str, str]]], tmp_path: Path
) -> None:
    kb = shutil.copytree(judged[0], tmp_path / "kb", symlinks=True)
    with (kb / "commonplace.toml").open("a", encoding="utf-8") as toml:
        toml.write(f'\n[report]\nrepository_url = "{REPO_URL.rstrip("/")}"\n')
    section = panel(report(kb, "--format", "html"))
    hrefs = set(re.findall(r'href="([^"]*)"', section))
    note = expected_order(judged[1])[0]
    assert REPO_URL + note in hrefs
    assert REPO_URL + "kb/instructions/review-gates/frontmatter/title-as-claim.md" in hrefs or any(
        h.startswith(REPO_URL + "kb/instructions/review-gates/") for h in hrefs
    )
    assert all(h.startswith(REPO_URL) or h == "https://example.org/g" for h in hrefs)
    # the option wins over the setting
    other = "https://git.example.org/kb/src/branch/main/"
    section = panel(report(kb, "--format", "html", "--repository-url", other))
    assert f'href="{other}{note}"' in section
    # a bad URL in the file is refused, naming the setting
    with (kb / "commonplace.toml").open("a", encoding="utf-8") as toml:
        toml.write("\n[report.extra]\nx = 1\n")
    done = run_command("review-report", "--format", "html", cwd=kb)
    assert_refused(done, 1, mentions="[report]")


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)//github.com/",
        "data:text/html,x",
        "ftp://host/repo/",
        "https://",
        "https://github.com/o/r/blob/main/?x=1",
        "https://github.com/o/r/blob/main/#top",
        'https://github.com/o/r/"onmouseover=x/',
        "https://git hub.com/",
        "",
    ],
)
def test_bad_repository_urls_are_refused(
    judged: tuple[Path, list[tuple[str, str, str]]], url: str
) -> None:
    done = run_command("review-report", "--format", "html", "--repository-url", url, cwd=judged[0])
    assert_refused(done, 1, mentions="--repository-url")
    assert done.out == ""
    with pytest.raises(UserError, match=r"\[report\] repository_url"):
        config_from(Path("/kb"), None, {"report": {"repository_url": url}})


def test_links_quote_hostile_paths_and_follow_the_kb_prefix(tmp_path: Path) -> None:
    links = Links(repository_url=REPO_URL, repo_prefix="docs/kb/")
    assert links.to('kb/notes/a b"<x>.md') == REPO_URL + "docs/kb/kb/notes/a%20b%22%3Cx%3E.md"
    assert links.to("kb/notes/javascript:x.md") == REPO_URL + "docs/kb/kb/notes/javascript%3Ax.md"
    relative = links_for(tmp_path / "kb", tmp_path / "out" / "deep", repository_url=None,
                         repo_prefix="")  # fmt: skip
    assert relative.to("kb/notes/n.md") == "../../kb/kb/notes/n.md"
    assert links_for(tmp_path, tmp_path, repository_url=None, repo_prefix="").to("x.md") == "x.md"
    # a note named like a scheme stays a relative link
    odd = Links().to("javascript:alert(1).md")
    assert safe_url(odd) == odd and not odd.startswith("javascript:")


def test_the_fix_first_panel_renders_in_chromium(
    judged: tuple[Path, list[tuple[str, str, str]]], chromium: str, tmp_path: Path
) -> None:
    kb, verdicts = judged
    page = tmp_path / "report.html"
    page.write_text(report(kb, "--format", "html"), encoding="utf-8")
    seen = browse(chromium, page, tmp_path / "browser")
    assert seen.console == () and seen.requests == ()
    dom = Parsed(seen.dom)
    shown = [
        a["data-note"] for t, a in dom.elements if t == "li" and "fix-note" in a.get("class", "")
    ]
    assert shown == expected_order(verdicts)
    assert any(t == "section" and a.get("id") == "fix-first" for t, a in dom.elements)
    assert not any(t == "a" and a.get("href", "").startswith("javascript") for t, a in dom.elements)
