#!/usr/bin/env python3
"""Generate a deterministic synthetic knowledge base for benchmarks.

The layout follows the defaults of commonplace review:

    commonplace.toml
    kb/notes/...                      notes (top level and a few subfolders)
    kb/reference/...                  reference notes (and an adr/ subfolder)
    kb/types/...                      type documents (never reviewed)
    kb/instructions/review-gates/<lens>/<name>.md

Besides reviewable notes it writes the things a selector has to skip: index
files (``index.md`` and ``*-index.md``), ``types/`` folders inside the scan
roots, Markdown files without frontmatter, and a few git-ignored drafts.

The same arguments always produce the same bytes (and, with git, the same
commit id). Usage::

    python benchmarks/generate_kb.py /tmp/kb --notes 10000 --gates 40
"""

from __future__ import annotations

import argparse
import random
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from _common import git_init_commit

TRAIT_CLAIM = "title-as-claim"
DEFINITION_TYPE = "kb/types/definition.md"
NOTE_TYPE = "kb/types/note.md"
GATE_TYPE = "kb/types/review-gate.md"

LENSES = ["clarity", "claims", "structure", "sources", "metadata", "style"]
NOTE_SUBFOLDERS = ["field-notes", "methods", "open-questions", "tooling"]
WATCH_PARTS = ["title", "description", "body", "frontmatter"]
STATUSES = (
    ["current"] * 35
    + ["seedling"] * 45
    + ["speculative"] * 12
    + ["outdated"] * 4
    + ["superseded"] * 4
)
NON_SLUG = re.compile(r"[^a-z0-9]+")
OTHER_TRAITS = ["has-external-sources", "has-comparison", "design-proposal"]

# Word pools (our own words) used to build titles, sentences and gate names.
# fmt: off
SUBJECTS = [
    "a shared glossary", "a weekly review", "a reading queue", "an index page", "a draft note",
    "a link audit", "a changelog", "a naming rule", "a template", "a checklist", "a summary",
    "a citation", "a decision record", "a tag", "a backlog", "an outline", "a margin comment",
    "a status field", "a short description", "a worked example", "a cross-reference",
    "a stale paragraph", "a merge of two notes", "a split note", "an archive folder",
]
VERBS = [
    "outlasts", "replaces", "hides", "reveals", "slows down", "speeds up", "duplicates",
    "depends on", "competes with", "protects", "weakens", "clarifies", "obscures",
    "compounds", "shortens", "anchors", "invalidates", "survives",
]
OBJECTS = [
    "later searches", "careful rereading", "the original argument", "a reviewer's attention",
    "the next revision", "most renames", "casual readers", "its own sources", "the front page",
    "unrelated notes", "the team's vocabulary", "long-term maintenance", "the first draft",
    "a tidy folder tree", "quick lookups", "honest uncertainty", "the reading order",
]
TOPIC_ADJECTIVES = [
    "incremental", "layered", "manual", "automatic", "weekly", "archived", "provisional",
    "annotated", "partial", "shared", "private", "nested", "flat", "versioned", "inherited",
]
TOPIC_NOUNS = [
    "indexing", "tagging", "note splitting", "link maintenance", "review cadence",
    "glossaries", "source tracking", "outline drafting", "naming", "archiving",
    "summaries", "reading lists", "decision records", "templates", "checklists",
]
BODY_WORDS = [
    "note", "notes", "reader", "readers", "link", "links", "index", "draft", "review",
    "revision", "claim", "claims", "source", "sources", "evidence", "example", "examples",
    "section", "paragraph", "sentence", "title", "description", "tag", "tags", "folder",
    "archive", "change", "changes", "version", "history", "summary", "outline", "term", "terms",
    "definition", "argument", "reason", "reasons", "case", "cases", "rule", "rules", "habit",
    "habits", "practice", "cost", "costs", "value", "signal", "noise", "trail", "context",
    "question", "answer", "detail", "details", "step", "steps", "list", "entry", "entries",
    "usually", "often", "rarely", "sometimes", "still", "later", "first", "next", "last", "each",
    "every", "most", "few", "many", "small", "large", "short", "long", "clear", "vague",
    "stable", "fragile", "useful", "costly", "quick", "slow", "careful", "plain",
]
CLAIM_CONDITIONS = ["missing", "stale", "shared", "new"]
TOPIC_AUDIENCES = ["small teams", "solo notes", "long projects", "reading groups"]
FILLER_SENTENCES = [
    "The same pattern shows up whenever {a} meets {b}.",
    "Most of the time {a} is enough, but {b} changes the picture.",
    "In practice {a} tends to drift unless {b} is checked regularly.",
    "A reader who only sees {a} will miss {b}.",
    "Nothing here says {a} is wrong; it says {b} deserves a second look.",
    "When {a} and {b} disagree, the newer of the two usually wins.",
    "It helps to write {a} down before {b} is forgotten.",
    "The cheapest fix is to link {a} from {b}.",
    "Over a few months {a} turns into {b} without anyone deciding it.",
    "Treat {a} as a hint, not as a replacement for {b}.",
]
GATE_ADJECTIVES = [
    "undefined", "unsupported", "redundant", "buried", "missing", "misleading", "vague",
    "overloaded", "stale", "circular", "orphaned", "inflated", "hedged", "mismatched",
]
GATE_NOUNS = [
    "terms", "claims", "links", "headings", "examples", "qualifiers", "sources", "tags",
    "summary", "scope", "transitions", "lists", "definitions", "comparisons",
]
# fmt: on


@dataclass
class Summary:
    """What was generated; used by the benchmarks for sanity checks."""

    root: Path
    note_paths: list[str] = field(default_factory=list)
    gate_paths: list[str] = field(default_factory=list)
    claim_notes: int = 0
    definition_notes: int = 0
    gates_requiring_claim: int = 0
    gates_requiring_definition: int = 0
    skipped_files: int = 0
    seconds: float = 0.0

    @property
    def expected_pairs(self) -> int:
        """Applicable (note, gate) pairs, i.e. the stale pairs when nothing is accepted."""
        plain = len(self.gate_paths) - self.gates_requiring_claim - self.gates_requiring_definition
        return (
            plain * len(self.note_paths)
            + self.gates_requiring_claim * self.claim_notes
            + self.gates_requiring_definition * self.definition_notes
        )


def slugify(text: str) -> str:
    return NON_SLUG.sub("-", text.lower()).strip("-")


def yaml_list(items: list[str]) -> str:
    return "[" + ", ".join(items) + "]"


def yaml_scalar(rng: random.Random, text: str) -> str:
    """Quote a description the way hand-written frontmatter tends to vary."""
    choice = rng.random()
    if ":" in text or choice < 0.35:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if choice < 0.55:
        return "'" + text.replace("'", "''") + "'"
    return text


class NoteWriter:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used_slugs: dict[str, int] = {}
        # A pool of ready-made sentences keeps generation fast.
        self.sentences = [self._sentence() for _ in range(4000)]

    def _phrase(self) -> str:
        words = self.rng.choices(BODY_WORDS, k=self.rng.randint(2, 4))
        return " ".join(words)

    def _sentence(self) -> str:
        template = self.rng.choice(FILLER_SENTENCES)
        return template.format(a="the " + self._phrase(), b="the " + self._phrase())

    def claim_title(self) -> str:
        rng = self.rng
        title = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}"
        if rng.random() < 0.3:
            title += f" when {rng.choice(SUBJECTS)} is {rng.choice(CLAIM_CONDITIONS)}"
        return title[0].upper() + title[1:]

    def topic_title(self) -> str:
        rng = self.rng
        title = f"{rng.choice(TOPIC_ADJECTIVES)} {rng.choice(TOPIC_NOUNS)}"
        if rng.random() < 0.4:
            title += f" for {rng.choice(TOPIC_AUDIENCES)}"
        return title[0].upper() + title[1:]

    def unique_slug(self, title: str) -> str:
        base = slugify(title)
        if base == "index" or base.endswith("-index"):
            base += "-note"  # index.md and *-index.md are index files, not notes
        count = self.used_slugs.get(base, 0) + 1
        self.used_slugs[base] = count
        return base if count == 1 else f"{base}-{count}"

    def paragraph(self) -> str:
        return " ".join(self.rng.choices(self.sentences, k=self.rng.randint(3, 6)))

    def body(self, title: str, target_size: int, links: list[str]) -> str:
        rng = self.rng
        parts = [f"# {title}\n", self.paragraph() + "\n"]
        size = sum(len(p) for p in parts)
        while size < target_size:
            roll = rng.random()
            if roll < 0.2:
                heading = f"{rng.choice(TOPIC_ADJECTIVES).capitalize()} {rng.choice(TOPIC_NOUNS)}"
                chunk = f"## {heading}\n"
            elif roll < 0.32:
                items = rng.choices(self.sentences, k=rng.randint(2, 4))
                chunk = "".join(f"- {item}\n" for item in items)
            elif roll < 0.42 and links:
                target = rng.choice(links)
                label = target.rsplit("/", 1)[-1].removesuffix(".md").replace("-", " ")
                chunk = f"{self.paragraph()} See [{label}]({target}) for the related case.\n"
            else:
                chunk = self.paragraph() + "\n"
            parts.append(chunk)
            size += len(chunk) + 1
        return "\n".join(parts)


def relative_link(from_dir: str, to_path: str) -> str:
    """Relative link from a KB-relative folder to a KB-relative file (POSIX)."""
    src = from_dir.split("/")
    dst = to_path.split("/")
    common = 0
    while common < len(src) and common < len(dst) - 1 and src[common] == dst[common]:
        common += 1
    up = len(src) - common
    rest = "/".join(dst[common:])
    return "../" * up + rest if up else "./" + rest


_made_dirs: set[str] = set()


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    parent = str(path.parent)
    if parent not in _made_dirs:
        path.parent.mkdir(parents=True, exist_ok=True)
        _made_dirs.add(parent)
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)


def note_location(rng: random.Random, index: int) -> str:
    """Pick the folder for note number ``index``."""
    roll = rng.random()
    if roll < 0.72:
        return "kb/notes"
    if roll < 0.86:
        return "kb/notes/" + NOTE_SUBFOLDERS[index % len(NOTE_SUBFOLDERS)]
    if roll < 0.96:
        return "kb/reference"
    return "kb/reference/adr"


def note_type(rng: random.Random, folder: str) -> tuple[str, bool]:
    """Return (type value as written, whether it means kb/types/definition.md)."""
    if folder == "kb/reference/adr":
        return "../types/adr.md", False  # kb/reference/types/adr.md
    roll = rng.random()
    if roll < 0.02:
        return DEFINITION_TYPE, True
    if roll < 0.035:
        # File-relative spelling of the same type.
        return relative_link(folder, "kb/types/definition.md"), True
    if roll < 0.045 and folder == "kb/notes":
        return "./types/structured-claim.md", False  # kb/notes/types/structured-claim.md
    return NOTE_TYPE, False


def generate_notes(root: Path, rng: random.Random, count: int, summary: Summary) -> None:
    writer = NoteWriter(rng)
    recent: list[str] = []
    for index in range(count):
        folder = note_location(rng, index)
        type_value, is_definition = note_type(rng, folder)
        claim = not is_definition and rng.random() < 0.4
        title = writer.claim_title() if claim else writer.topic_title()
        if is_definition:
            title = "Definition of " + title[0].lower() + title[1:]
        rel = f"{folder}/{writer.unique_slug(title)}.md"

        traits: list[str] | None
        extra = [t for t in OTHER_TRAITS if rng.random() < 0.12]
        if claim:
            traits = [*extra, TRAIT_CLAIM] if rng.random() < 0.5 else [TRAIT_CLAIM, *extra]
        elif rng.random() < 0.15:
            traits = None  # no traits key at all
        else:
            traits = extra

        description = f"{title} - {rng.choice(writer.sentences)[:-1].lower()}"
        lines = ["---", f"description: {yaml_scalar(rng, description)}", f"type: {type_value}"]
        if traits is not None:
            lines.append(f"traits: {yaml_list(traits)}")
        tags = rng.sample(TOPIC_NOUNS, k=rng.randint(0, 3))
        lines.append(f"tags: {yaml_list([slugify(t) for t in tags])}")
        lines.append(f"status: {rng.choice(STATUSES)}")
        lines.append("---")
        links = [relative_link(folder, target) for target in recent[-40:] if rng.random() < 0.1]
        text = "\n".join(lines) + "\n\n" + writer.body(title, rng.randint(1600, 3400), links)
        write(root, rel, text)

        summary.note_paths.append(rel)
        summary.claim_notes += claim
        summary.definition_notes += is_definition
        recent.append(rel)


GATE_BODY = """\
## Failure mode

{failure}

## Test

Read the parts of the note this gate watches ({watches}). For each candidate, \
ask whether {question}

WARN when the problem is present but local. FAIL when it changes what the note \
claims. PASS otherwise.

## Example (fail)

- `{fail_example}`

## Example (pass)

- `{pass_example}`
"""


def generate_gates(root: Path, rng: random.Random, count: int, summary: Summary) -> None:
    if count <= 0:
        return
    names = [f"{a}-{n}" for a in GATE_ADJECTIVES for n in GATE_NOUNS]
    rng.shuffle(names)
    claim_gates = max(1, round(count * 0.12))
    # Gate 0 requires the definition type, gates 1..claim_gates require the trait.
    for index in range(count):
        lens = LENSES[index % len(LENSES)]
        name = names[index % len(names)]
        if index >= len(names):
            name += f"-{index // len(names) + 1}"
        gate_id = f"{lens}/{name}"
        readable = name.replace("-", " ")
        culprit = f"a {rng.choice(TOPIC_ADJECTIVES)} {rng.choice(GATE_NOUNS).removesuffix('s')}"
        failure = (
            f"The note has {readable}: {culprit} that a reader has to "
            f"work around before the main point lands."
        )
        watches = sorted(rng.sample(WATCH_PARTS, k=rng.randint(1, 3)), key=WATCH_PARTS.index)
        lines = [
            "---",
            f"gate_id: {gate_id}",
            f"name: {readable.capitalize()}",
            "description: '" + failure.replace("'", "''") + "'",
            f"type: {GATE_TYPE}",
            f"lens: {lens}",
            f"watches: {yaml_list(watches)}",
            "staleness: changed",
        ]
        if index == 0:
            lines.append(f"requires-type: {DEFINITION_TYPE}")
            summary.gates_requiring_definition += 1
        elif index <= claim_gates:
            lines.append(f"requires_trait: {TRAIT_CLAIM}")
            summary.gates_requiring_claim += 1
        lines.append("---")
        body = GATE_BODY.format(
            failure=failure,
            watches=", ".join(watches),
            question=f"it shows {readable} that the note would be better without.",
            fail_example=f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} everything, always",
            pass_example=f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}",
        )
        rel = f"kb/instructions/review-gates/{gate_id}.md"
        write(root, rel, "\n".join(lines) + "\n\n" + body)
        summary.gate_paths.append(rel)


def generate_support_files(root: Path, summary: Summary) -> None:
    """Files that exist in a real KB but must never be reviewed."""
    write(
        root,
        "commonplace.toml",
        "# Synthetic knowledge base generated by benchmarks/generate_kb.py.\n"
        "# Defaults apply: scan roots kb/notes and kb/reference, gates under\n"
        "# kb/instructions/review-gates.\n\n"
        "[models]\n"
        'bench = "bench-model"\n',
    )
    write(root, ".gitignore", "kb/reports/\nkb/notes/drafts/\n")
    type_doc = "---\ntype: kb/types/type-spec.md\nname: {name}\ndescription: {desc}\n---\n\n"
    type_doc += "{body}\n"
    draft = "---\ndescription: {desc}\ntype: kb/types/note.md\nstatus: seedling\n---\n\n{body}\n"
    skipped = {
        "kb/types/note.md": type_doc.format(
            name="note",
            desc="Base note type",
            body="# Note\n\nFrontmatter: description, type, traits, tags, status.",
        ),
        "kb/types/definition.md": type_doc.format(
            name="definition",
            desc="A note that defines one term",
            body="# Definition\n\nStates what a term means, its scope and what it is not.",
        ),
        "kb/types/review-gate.md": type_doc.format(
            name="review-gate",
            desc="One failure mode to review notes against",
            body="# Review gate\n\nSections: Failure mode, Test, Example (fail), Example (pass).",
        ),
        "kb/types/index.md": type_doc.format(
            name="index",
            desc="A navigation page listing notes",
            body="# Index\n\nIndex pages are generated or curated lists of links.",
        ),
        "kb/notes/types/structured-claim.md": type_doc.format(
            name="structured-claim",
            desc="A note whose body follows claim, evidence, reasoning",
            body="# Structured claim\n\nSections: Claim, Evidence, Reasoning.",
        ),
        "kb/reference/types/adr.md": type_doc.format(
            name="adr",
            desc="An architecture decision record",
            body="# ADR\n\nSections: Context, Decision, Consequences.",
        ),
        "kb/notes/README.md": "# Notes\n\nThis folder holds the notes (no frontmatter here).\n",
        "kb/reference/README.md": "# Reference\n\nLonger material (no frontmatter here).\n",
        "kb/notes/drafts/unfinished-thought.md": draft.format(
            desc="A draft that git ignores",
            body="# Unfinished thought\n\nIgnored by git, so never reviewed.",
        ),
        "kb/notes/drafts/another-draft.md": draft.format(
            desc="Another ignored draft",
            body="# Another draft\n\nIgnored by git, so never reviewed.",
        ),
    }
    index_files = ["kb/notes/index.md", "kb/reference/index.md"]
    index_files += [f"kb/notes/{sub}/{sub}-index.md" for sub in NOTE_SUBFOLDERS]
    for rel in index_files:
        folder = rel.rsplit("/", 1)[0]
        members = [p for p in summary.note_paths if p.rsplit("/", 1)[0] == folder][:50]
        links = "".join(
            f"- [{p.rsplit('/', 1)[-1][:-3]}]({relative_link(folder, p)})\n" for p in members
        )
        frontmatter = f"description: Index of {folder}\ntype: kb/types/index.md"
        skipped[rel] = f"---\n{frontmatter}\n---\n\n# Index\n\n{links}"
    for rel, text in skipped.items():
        write(root, rel, text)
    summary.skipped_files = len(skipped)


def generate(
    out_dir: Path, notes: int = 10_000, gates: int = 40, seed: int = 0, use_git: bool = True
) -> Summary:
    """Write the synthetic KB into ``out_dir`` (which must be absent or empty)."""
    started = time.perf_counter()
    if out_dir.exists() and any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir} exists and is not empty")
    out_dir.mkdir(parents=True, exist_ok=True)
    _made_dirs.clear()
    rng = random.Random(seed)
    summary = Summary(root=out_dir)
    generate_notes(out_dir, rng, notes, summary)
    generate_gates(out_dir, rng, gates, summary)
    generate_support_files(out_dir, summary)
    if use_git:
        git_init_commit(out_dir)
    summary.seconds = time.perf_counter() - started
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "out_dir", metavar="OUT_DIR", type=Path, help="directory to create (absent or empty)"
    )
    parser.add_argument(
        "--notes", type=int, default=10_000, help="number of reviewable notes (default 10000)"
    )
    parser.add_argument("--gates", type=int, default=40, help="number of review gates (default 40)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--no-git", action="store_true", help="do not git init and commit")
    args = parser.parse_args(argv)
    if args.notes < 0 or args.gates < 0:
        parser.error("--notes and --gates must not be negative")
    try:
        summary = generate(args.out_dir, args.notes, args.gates, args.seed, not args.no_git)
    except FileExistsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as exc:
        print(f"error: git failed: {exc}", file=sys.stderr)
        return 1
    print(
        f"generated {len(summary.note_paths)} notes ({summary.claim_notes} title-as-claim, "
        f"{summary.definition_notes} definitions), {len(summary.gate_paths)} gates "
        f"({summary.gates_requiring_claim} require title-as-claim, "
        f"{summary.gates_requiring_definition} require the definition type), "
        f"{summary.skipped_files} non-note files, {summary.expected_pairs} applicable pairs "
        f"in {summary.seconds:.2f} s -> {summary.root}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
