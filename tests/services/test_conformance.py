"""Type and collection conformance gates on a KB of our own making: which
pairs exist, what makes them stale, and a sweep with the stand-in reviewer
(a real command runner, a child process) that reviews and accepts them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers.db import rows, store_of
from helpers.kb import EXAMPLE_KB, commit_all, git

from commonplace.config import load_config
from commonplace.errors import UserError
from commonplace.kb.gates import every_gate_ids, load_gate, resolve_gate_ids

MODEL = ("--model", "conform-model")
STAND_IN = EXAMPLE_KB / "tools" / "stand-in-reviewer.py"

FILES = {
    "commonplace.toml": (
        "[runners.stand-in]\n"
        f"command = [{json.dumps(sys.executable)}, {json.dumps(str(STAND_IN))}]\n"
        "timeout = 60\n"
    ),
    "kb/instructions/review-gates/clarity/plain.md": (
        "---\ndescription: plain words\n---\n# Plain\n\n## Test\n\nLook for `jargon`.\n"
    ),
    "kb/types/note.md": "---\ndescription: a note\n---\n# note\n\nA note states one claim.\n",
    "kb/types/definition.md": (
        "# definition\n\nDefines one term.\n\n## Review\n\nThe first sentence defines the term.\n"
    ),
    "kb/types/index.md": "# types\n",  # an index, not a type spec
    "kb/notes/COLLECTION.md": "# notes\n\nClaims, one per note.\n",
    "kb/reference/COLLECTION.md": "# reference\n\nSourced material.\n",
    "kb/reference/adr/COLLECTION.md": "# adr\n\nDecisions.\n",
    "kb/notes/a.md": "---\ntype: kb/types/note.md\n---\n# A\n\nSome jargon here.\n",
    "kb/notes/b.md": "---\ntype: kb/types/definition.md\n---\n# B\n\nB is a term.\n",
    "kb/notes/sub/c.md": "---\ntitle: c\n---\n# C\n\nNo type.\n",
    "kb/reference/r.md": "---\ntype: kb/types/note.md\n---\n# R\n\nA source.\n",
    "kb/reference/adr/001.md": "---\ntype: kb/types/unknown.md\n---\n# 001\n\nDecided.\n",
}


@pytest.fixture
def kb(tmp_path: Path) -> Path:
    root = tmp_path / "conform-kb"
    for key, text in FILES.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_text(text, encoding="utf-8")
    git(root, "init", "-q")
    commit_all(root, "initial")
    return root


def select(cli: Any, kb: Path, *args: str) -> set[tuple[str, str, str]]:
    result = cli("review-target-selector", *args, *MODEL, "--json", cwd=kb)
    assert result.code == 0, result.err
    return {(p["note_path"], p["gate_id"], p["reason"]) for p in json.loads(result.out)}


EXPECTED = {
    ("kb/notes/a.md", "type/note"),
    ("kb/notes/b.md", "type/definition"),
    ("kb/reference/r.md", "type/note"),
    ("kb/notes/a.md", "collection/notes"),
    ("kb/notes/b.md", "collection/notes"),
    ("kb/notes/sub/c.md", "collection/notes"),  # a subfolder without its own COLLECTION.md
    ("kb/reference/r.md", "collection/reference"),
    ("kb/reference/adr/001.md", "collection/adr"),  # the nearest COLLECTION.md only
}


def test_the_selector_lists_exactly_the_conformance_pairs(cli: Any, kb: Path) -> None:
    assert select(cli, kb, "type", "collection") == {(n, g, "missing-review") for n, g in EXPECTED}
    assert {(n, g) for n, g, _ in select(cli, kb, "type/note")} == {
        ("kb/notes/a.md", "type/note"),
        ("kb/reference/r.md", "type/note"),
    }
    catalog = {(n, "clarity/plain") for n in ("a", "b", "sub/c")}
    catalog = {(f"kb/notes/{n}.md", g) for n, g in catalog} | {
        ("kb/reference/r.md", "clarity/plain"),
        ("kb/reference/adr/001.md", "clarity/plain"),
    }
    assert {(n, g) for n, g, _ in select(cli, kb, "clarity", "type", "collection")} == (
        EXPECTED | catalog
    )


def test_gate_ids_and_files(kb: Path) -> None:
    config = load_config(kb)
    assert every_gate_ids(config) == [
        "clarity/plain",
        "type/definition",
        "type/note",
        "collection/adr",
        "collection/notes",
        "collection/reference",
    ]
    gate = load_gate(config, "type/definition")
    assert gate.key == "kb/types/definition.md"
    assert gate.sha == git(kb, "rev-parse", "HEAD:kb/types/definition.md").strip()
    assert "`## Review` section is the operative test" in gate.body
    assert "not your job" in gate.body
    assert load_gate(config, "collection/adr").key == "kb/reference/adr/COLLECTION.md"
    assert "operative" not in load_gate(config, "type/note").body


def test_a_type_spec_elsewhere_and_ambiguous_names(kb: Path) -> None:
    (kb / "kb/notes/types").mkdir()
    (kb / "kb/notes/types/claim.md").write_text("# claim\n", encoding="utf-8")
    (kb / "kb/notes/types/note.md").write_text("# local note\n", encoding="utf-8")
    (kb / "kb/reference/notes").mkdir()
    (kb / "kb/reference/notes/COLLECTION.md").write_text("# two\n", encoding="utf-8")
    config = load_config(kb)
    assert load_gate(config, "type/claim").key == "kb/notes/types/claim.md"
    assert load_gate(config, "type/note").key == "kb/types/note.md"  # kb/types/ first
    with pytest.raises(UserError, match="collection/notes is ambiguous"):
        load_gate(config, "collection/notes")


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("type/nothing", "gate not found: type/nothing"),
        ("collection/nothing", "gate not found: collection/nothing"),
        ("type/index", "gate not found: type/index"),
    ],
)
def test_unknown_conformance_gates_are_errors(kb: Path, ref: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        resolve_gate_ids(load_config(kb), [ref])


def test_a_catalog_lens_called_type_is_an_error(cli: Any, kb: Path) -> None:
    (kb / "kb/instructions/review-gates/type").mkdir()
    (kb / "kb/instructions/review-gates/type/x.md").write_text("# x\n", encoding="utf-8")
    result = cli("review-target-selector", "type", *MODEL, cwd=kb)
    assert result.code == 1
    assert "error: lens type in kb/instructions/review-gates clashes" in result.err


def test_no_type_specs_is_an_error(cli: Any, kb: Path) -> None:
    git(kb, "rm", "-q", "-r", "kb/types")
    result = cli("review-target-selector", "type", *MODEL, cwd=kb)
    assert result.code == 1
    assert "error: no type conformance gates" in result.err


def test_sweep_reviews_conformance_pairs_and_edits_make_them_stale(cli: Any, kb: Path) -> None:
    swept = cli("review-sweep", "type", "collection", "--runner", "stand-in", *MODEL, cwd=kb)
    assert swept.code == 0, swept.err + swept.out
    assert select(cli, kb, "type", "collection") == set()

    # the prompt showed the wrapped spec; the stand-in found `jargon` nowhere in it
    spec = kb / "kb/types/note.md"
    spec.write_text(spec.read_text(encoding="utf-8") + "\nMore.\n", encoding="utf-8")
    dirty = select(cli, kb, "type", "collection")
    assert dirty == {
        ("kb/notes/a.md", "type/note", "gate-dirty"),
        ("kb/reference/r.md", "type/note", "gate-dirty"),
    }
    refused = cli("review-sweep", "type/note", "--runner", "stand-in", *MODEL, cwd=kb)
    assert "skipped kb/notes/a.md :: type/note: gate-dirty: commit the gate first" in refused.out
    commit_all(kb, "edit the note type")
    assert select(cli, kb, "type", "collection") == {
        ("kb/notes/a.md", "type/note", "gate-changed"),
        ("kb/reference/r.md", "type/note", "gate-changed"),
    }

    note = kb / "kb/notes/b.md"
    note.write_text(note.read_text(encoding="utf-8") + "\nMore.\n", encoding="utf-8")
    commit_all(kb, "edit b")
    assert {
        (n, g, r) for n, g, r in select(cli, kb, "type", "collection") if n.endswith("b.md")
    } == {
        ("kb/notes/b.md", "type/definition", "note-changed"),
        ("kb/notes/b.md", "collection/notes", "note-changed"),
    }

    again = cli("review-sweep", "type", "collection", "--runner", "stand-in", *MODEL, cwd=kb)
    assert again.code == 0, again.err + again.out
    assert select(cli, kb, "type", "collection") == set()


def test_split_path_trivial_ack_and_report(cli: Any, kb: Path) -> None:
    pairs = ["kb/notes/b.md::type/definition", "kb/notes/b.md::collection/notes"]
    prepared = cli("prepare-review-batch", *pairs, "--runner", "stand-in", *MODEL, "--json", cwd=kb)
    assert prepared.code == 0, prepared.err
    batch = json.loads(prepared.out)
    prompt = (kb / batch["prompt_path"]).read_text(encoding="utf-8")
    assert (
        "### Gate type/definition" in prompt and "the type spec `kb/types/definition.md`" in prompt
    )
    assert "the collection description `kb/notes/COLLECTION.md`" in prompt
    output = subprocess.run(
        [sys.executable, str(STAND_IN)], input=prompt, cwd=kb, capture_output=True, text=True
    ).stdout
    (kb / batch["bundle_output_path"]).write_text(output, encoding="utf-8")
    ingested = cli(
        "ingest-batch-output",
        "--batch-id",
        str(batch["batch_id"]),
        "--input-file",
        batch["bundle_output_path"],
        cwd=kb,
    )
    assert ingested.code == 0, ingested.err
    assert select(cli, kb, "type", "collection", "--note", "kb/notes/b.md") == set()
    run_dir = kb / "kb/reports/bundle-reviews"
    assert sorted(p.name for p in run_dir.glob("review-run-*/*__*.md")) == [
        "collection__notes.md",
        "type__definition.md",
    ]

    # a conformance gate watches every part: a body edit is kept, not acked
    note = kb / "kb/notes/b.md"
    note.write_text(note.read_text(encoding="utf-8") + "\nMore.\n", encoding="utf-8")
    commit_all(kb, "edit b")
    acked = cli("ack-trivial-note-changes", "type", "collection", *MODEL, cwd=kb)
    assert acked.code == 0, acked.err
    assert "kept: kb/notes/b.md type/definition (changed: body)" in acked.out

    report = cli("review-report", "--format", "json", *MODEL, cwd=kb)
    assert report.code == 0, report.err
    by_lens = json.loads(report.out)["by_lens"]
    # Every type and collection gate is in the report, reviewed or not: b's two
    # pairs changed; a and r (type/note), a, sub/c, r and adr/001 never reviewed.
    assert by_lens["type"]["staleness"] == {"note-changed": 1, "missing-review": 2}
    assert by_lens["collection"]["staleness"] == {"note-changed": 1, "missing-review": 4}


def test_unusable_conformance_gates_are_listed_not_fatal(cli: Any, kb: Path) -> None:
    (kb / "kb/types/latin1.md").write_bytes(b"# caf\xe9\n")
    (kb / "kb/types/binary.md").write_bytes(b"# x\0y\n")
    (kb / "kb/types/outside.md").symlink_to("/etc/hostname")  # a link is not a type spec
    (kb / "kb/notes/odd :: name").mkdir()
    (kb / "kb/notes/odd :: name/COLLECTION.md").write_text("# odd\n", encoding="utf-8")
    commit_all(kb, "bad gates")
    result = cli("review-target-selector", "type", "collection", *MODEL, "--json", cwd=kb)
    assert result.code == 0, result.err
    left_out = {(p["gate_id"], p["reason"]) for p in json.loads(result.out) if "detail" in p}
    assert left_out == {
        ("type/latin1", "unusable-gate"),
        ("type/binary", "unusable-gate"),
        ("collection/odd :: name", "unreviewable-name"),
    }
    assert "outside" not in result.out
    named = cli("review-target-selector", "type/latin1", *MODEL, cwd=kb)
    assert named.code == 1 and named.err == "error: gate type/latin1: it is not UTF-8 text\n"
    linked = cli("review-target-selector", "type/outside", *MODEL, cwd=kb)
    assert linked.code == 1 and "error: gate not found: type/outside" in linked.err


# --- where no gate is named, every gate is meant: type and collection included --------------

CONFORMANCE = ("type/", "collection/")


def _reviewed_conformance(kb: Path) -> set[tuple[str, str]]:
    found = rows(store_of(kb), "SELECT note_path, gate_id FROM gate_reviews")
    return {(n, g) for n, g in found if g.startswith(CONFORMANCE)}


def test_a_sweep_with_no_gate_named_reviews_type_and_collection_pairs(cli: Any, kb: Path) -> None:
    everything = select(cli, kb)
    assert everything == select(cli, kb, "--all-gates")
    assert {(n, g) for n, g, _ in everything if g.startswith(CONFORMANCE)} == EXPECTED
    swept = cli("review-sweep", "--runner", "stand-in", *MODEL, "--json", cwd=kb)
    assert swept.code == 0, swept.err
    report = json.loads(swept.out)
    assert report["failed"] == 0
    # one batch per note and lens: every note has clarity; a, b, r a type; all five a collection
    assert report["completed"] == len(report["batches"]) == 5 + 3 + 5
    assert _reviewed_conformance(kb) == EXPECTED
    assert select(cli, kb) == set()
    assert select(cli, kb, "--all-gates") == set()


def test_the_warn_queue_lists_a_warn_on_a_type_pair(cli: Any, kb: Path) -> None:
    # The stand-in warns when a word the gate's `## Test` puts in backticks is in
    # the note: a.md says "jargon", r.md (also type/note) does not.
    spec = kb / "kb/types/note.md"
    spec.write_text(spec.read_text(encoding="utf-8") + "\n## Test\n\nLook for `jargon`.\n")
    commit_all(kb, "a test in the note type")
    swept = cli("review-sweep", "type", "--runner", "stand-in", *MODEL, cwd=kb)
    assert swept.code == 0, swept.err
    queue = cli("warn-selector", *MODEL, "--json", cwd=kb)
    assert queue.code == 0, queue.err
    entries = [(e["note_path"], e["gate_id"], e["decision"]) for e in json.loads(queue.out)]
    assert entries == [("kb/notes/a.md", "type/note", "warn")]
    (entry,) = json.loads(queue.out)
    assert [f["severity"] for f in entry["findings"]] == ["warn"]
    assert "jargon" in entry["findings"][0]["text"]
    text = cli("warn-selector", "kb/notes", *MODEL, cwd=kb)
    assert text.code == 0 and "type/note" in text.out and "kb/reference/r.md" not in text.out
    assert cli("warn-selector", "kb/reference", *MODEL, "--json", cwd=kb).json() == []


def test_ack_gate_review_accepts_a_collection_pair(cli: Any, kb: Path) -> None:
    note, gate = "kb/reference/r.md", "collection/reference"
    acked = cli("ack-gate-review", note, gate, *MODEL, "--json", cwd=kb)
    assert acked.code == 0, acked.err
    collection = git(kb, "rev-parse", "HEAD:kb/reference/COLLECTION.md").strip()
    assert rows(
        store_of(kb),
        "SELECT note_path, gate_id, accepted_gate_sha, accepted_review_id FROM acceptance_events",
    ) == [(note, gate, collection, None)]
    assert (note, gate) not in {(n, g) for n, g, _ in select(cli, kb)}
    assert (note, "type/note", "missing-review") in select(cli, kb)  # only that pair
    # the acceptance is keyed by the COLLECTION.md it saw: editing it makes the pair stale
    path = kb / "kb/reference/COLLECTION.md"
    path.write_text(path.read_text(encoding="utf-8") + "\nCite pages.\n", encoding="utf-8")
    commit_all(kb, "edit the collection")
    assert (note, gate, "gate-changed") in select(cli, kb, "collection")
    # a collection the note is not in is refused, and nothing is written
    before = rows(store_of(kb), "SELECT COUNT(*) FROM acceptance_events")
    wrong = cli("ack-gate-review", note, "collection/notes", *MODEL, cwd=kb)
    assert wrong.code == 1 and wrong.err.startswith("error: "), wrong.err
    assert "Traceback" not in wrong.err
    assert rows(store_of(kb), "SELECT COUNT(*) FROM acceptance_events") == before
