"""No path from an argument or an output escapes the KB (SPEC 13). Notes named
by `..`, by absolute paths or through symbolic links that lead out of the KB;
gate ids that climb out of the gates directory; pair headers in outputs that
name files elsewhere: each is refused with exit 1 or 2 and an `error:` line,
no traceback, nothing read from outside into the store, and nothing written
outside the KB (the KB's parent folder is listed before and after)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from helpers.cli import CREATE, EX_CLARITY, EX_NOTE, Cli, assert_refused, create_run
from helpers.commands import Result
from helpers.db import dump, one, store_of
from helpers.kb import commit_all
from helpers.reviews import review

# Text that only the files outside the KB hold: it must never be read in.
OUTSIDE_MARK = "OUTSIDE-THE-KB-3f9a"
NOTE_TEXT = (
    f"---\ndescription: A note that lives outside the KB ({OUTSIDE_MARK})\n---\n"
    f"# Outside\n\n{OUTSIDE_MARK}: frost dates are averages.\n"
)
GATE_TEXT = (
    f"---\ndescription: A gate outside the KB ({OUTSIDE_MARK})\n---\n"
    f"# Outside gate\n\n## Test\n\nDoes the note mention `{OUTSIDE_MARK}`?\n"
)
RUN_BUNDLE = ("--runner", "stand-in", "--model", "demo", "--quiet")
SWEEP = ("--runner", "stand-in", "--model", "demo")


@pytest.fixture
def kb(example_kb: Path) -> Path:
    """The example KB beside note-like and gate-like files outside it, with
    committed symbolic links inside it that lead to them."""
    outside = example_kb.parent
    (outside / "outside.md").write_text(NOTE_TEXT, encoding="utf-8")
    (outside / "outside-gate.md").write_text(GATE_TEXT, encoding="utf-8")
    (outside / "outside-dir").mkdir()
    (outside / "outside-dir" / "x.md").write_text(NOTE_TEXT, encoding="utf-8")
    (outside / "outside-lens").mkdir()
    (outside / "outside-lens" / "leak.md").write_text(GATE_TEXT, encoding="utf-8")
    notes = example_kb / "kb" / "notes"
    (notes / "leak.md").symlink_to(outside / "outside.md")
    (notes / "elsewhere").symlink_to(outside / "outside-dir")
    gates = example_kb / "kb" / "instructions" / "review-gates"
    (gates / "links").mkdir()
    (gates / "links" / "leak.md").symlink_to(outside / "outside-gate.md")
    (gates / "elsewhere").symlink_to(outside / "outside-lens")
    commit_all(example_kb, "links that lead out of the KB")
    return example_kb


def listing(root: Path, kb: Path) -> dict[str, tuple[int, int, str]]:
    """Every entry under `root` outside `kb`: size, modification time, link target."""
    found = {}
    for path in [root, *root.rglob("*")]:
        if path == kb or kb in path.parents:
            continue
        stat = path.lstat()
        target = os.readlink(path) if path.is_symlink() else ""
        found[str(path.relative_to(root))] = (stat.st_size, stat.st_mtime_ns, target)
    return found


@pytest.fixture
def nothing_written_outside(kb: Path) -> Iterator[None]:
    """The test must leave everything outside the KB exactly as it was."""
    before = listing(kb.parent, kb)
    yield
    assert listing(kb.parent, kb) == before


def nothing_read_from_outside(kb: Path) -> None:
    reports = kb / "kb" / "reports"
    if not reports.exists():
        return
    for path in reports.rglob("*"):
        if path.is_file():
            assert OUTSIDE_MARK.encode() not in path.read_bytes(), path


def refused(result: Result, kb: Path, before: object, *codes: int) -> str:
    """Refused with an `error:` line, and the store is exactly as it was."""
    error = assert_refused(result, *codes)
    assert dump(store_of(kb)) == before
    nothing_read_from_outside(kb)
    return error


# --- notes named on the command line ---------------------------------------------------

NOTE_REFS: dict[str, Callable[[Path], str]] = {
    "relative ..": lambda kb: "../outside.md",
    "relative .. through the notes folder": lambda kb: "kb/notes/../../../outside.md",
    "absolute": lambda kb: str(kb.parent / "outside.md"),
    "absolute with ..": lambda kb: f"{kb}/kb/notes/../../../outside.md",
    "symlink to a file outside": lambda kb: "kb/notes/leak.md",
    "symlink to a folder outside": lambda kb: "kb/notes/elsewhere/x.md",
}

NOTE_COMMANDS: dict[str, Callable[[str], tuple[str, ...]]] = {
    "create-review-run": lambda note: ("create-review-run", note, "clarity", *CREATE),
    "create-review-run --with-prompt": lambda note: (
        "create-review-run",
        note,
        "clarity",
        *CREATE,
        "--with-prompt",
    ),
    "run-review-bundle": lambda note: ("run-review-bundle", note, "clarity", *RUN_BUNDLE),
    "review-target-selector --note": lambda note: (
        "review-target-selector",
        "--note",
        note,
        "--model",
        "demo",
    ),
    "review-sweep --note": lambda note: ("review-sweep", "clarity", "--note", note, *SWEEP),
    "run-gate-sweep --note": lambda note: (
        "run-gate-sweep",
        EX_CLARITY[0],
        "--note",
        note,
        *SWEEP,
        "--quiet",
    ),
    "ack-gate-review": lambda note: ("ack-gate-review", note, "clarity", "--model", "demo"),
    "prepare-review-batch": lambda note: (
        "prepare-review-batch",
        f"{note}::clarity",
        *CREATE,
    ),
    "relocate-note from": lambda note: ("relocate-note", note, "kb/notes/moved.md"),
}


@pytest.mark.parametrize("ref", sorted(NOTE_REFS))
@pytest.mark.parametrize("command", sorted(NOTE_COMMANDS))
@pytest.mark.usefixtures("nothing_written_outside")
def test_a_note_outside_the_kb_is_refused(cli: Cli, kb: Path, command: str, ref: str) -> None:
    name, *args = NOTE_COMMANDS[command](NOTE_REFS[ref](kb))
    before = dump(store_of(kb))

    result = cli(name, *args, cwd=kb)

    refused(result, kb, before)
    assert (kb / EX_NOTE).is_file()


MOVE_TARGETS: dict[str, Callable[[Path], str]] = {
    "relative ..": lambda kb: "../moved.md",
    "relative .. through the notes folder": lambda kb: "kb/notes/../../../moved.md",
    "absolute": lambda kb: str(kb.parent / "moved.md"),
    "into a folder symlinked out": lambda kb: "kb/notes/elsewhere/moved.md",
    "onto a symlink to a file outside": lambda kb: "kb/notes/leak.md",
}


@pytest.mark.parametrize("target", sorted(MOVE_TARGETS))
@pytest.mark.parametrize("already_moved", [False, True], ids=["move", "already-moved"])
@pytest.mark.usefixtures("nothing_written_outside")
def test_relocate_note_never_moves_a_note_out_of_the_kb(
    cli: Cli, kb: Path, target: str, already_moved: bool
) -> None:
    before = dump(store_of(kb))
    extra = ("--already-moved",) if already_moved else ()

    result = cli("relocate-note", EX_NOTE, MOVE_TARGETS[target](kb), *extra, cwd=kb)

    refused(result, kb, before)
    assert (kb / EX_NOTE).is_file()


@pytest.mark.parametrize("command", ["review-target-selector", "review-sweep"])
@pytest.mark.usefixtures("nothing_written_outside")
def test_a_folder_symlinked_out_of_the_kb_is_refused_as_a_note_folder(
    cli: Cli, kb: Path, command: str
) -> None:
    args = ("--model", "demo") if command == "review-target-selector" else SWEEP
    before = dump(store_of(kb))

    result = cli(command, "clarity", "--note", "kb/notes/elsewhere", *args, cwd=kb)

    refused(result, kb, before)


@pytest.mark.usefixtures("nothing_written_outside")
def test_a_scan_does_not_follow_links_out_of_the_kb(cli: Cli, kb: Path) -> None:
    result = cli("review-target-selector", "clarity", "--model", "demo", "--json", cwd=kb)

    assert result.code == 0, result.err
    notes = {pair["note_path"] for pair in cast(list[dict[str, str]], result.json())}
    assert EX_NOTE in notes
    assert not any("leak" in n or "elsewhere" in n for n in notes)


# --- gate ids ------------------------------------------------------------------------------

GATE_REFS: dict[str, Callable[[Path], str]] = {
    "relative ..": lambda kb: "../../../../outside-gate",
    "relative .. inside a lens": lambda kb: "clarity/../../../../../outside-gate",
    "relative .. as a file": lambda kb: "../outside-gate.md",
    "absolute id": lambda kb: str(kb.parent / "outside-gate"),
    "absolute file": lambda kb: str(kb.parent / "outside-gate.md"),
}
# Gates reached through links committed in the gates directory.
LINKED_GATE_REFS: dict[str, Callable[[Path], str]] = {
    "symlinked gate file": lambda kb: "links/leak",
    "lens of a symlinked gate file": lambda kb: "links",
    "symlinked lens": lambda kb: "elsewhere",
    "gate in a symlinked lens": lambda kb: "elsewhere/leak",
}

GATE_COMMANDS: dict[str, Callable[[str], tuple[str, ...]]] = {
    "create-review-run": lambda gate: ("create-review-run", EX_NOTE, gate, *CREATE),
    "run-review-bundle": lambda gate: ("run-review-bundle", EX_NOTE, gate, *RUN_BUNDLE),
    "prepare-review-batch": lambda gate: ("prepare-review-batch", f"{EX_NOTE}::{gate}", *CREATE),
    "review-target-selector": lambda gate: ("review-target-selector", gate, "--model", "demo"),
    "resolve-gates": lambda gate: ("resolve-gates", gate),
    "ack-gate-review": lambda gate: ("ack-gate-review", EX_NOTE, gate, "--model", "demo"),
}


@pytest.mark.parametrize("ref", sorted({**GATE_REFS, **LINKED_GATE_REFS}))
@pytest.mark.parametrize("command", sorted(GATE_COMMANDS))
@pytest.mark.usefixtures("nothing_written_outside")
def test_a_gate_outside_the_gates_directory_or_linked_from_outside_is_refused(
    cli: Cli, kb: Path, command: str, ref: str
) -> None:
    name, *args = GATE_COMMANDS[command]({**GATE_REFS, **LINKED_GATE_REFS}[ref](kb))
    before = dump(store_of(kb))

    result = cli(name, *args, cwd=kb)

    refused(result, kb, before)
    assert OUTSIDE_MARK not in result.out


@pytest.mark.parametrize("gate", ["../../x", "/etc/passwd", "clarity/../../../x", "links/leak"])
@pytest.mark.usefixtures("nothing_written_outside")
def test_write_gate_review_with_a_gate_outside_the_run_is_refused(
    cli: Cli, kb: Path, gate: str
) -> None:
    run_id = create_run(cli, kb, EX_NOTE, *EX_CLARITY)["review_run_id"]
    before = dump(store_of(kb))

    result = cli(
        "write-gate-review",
        "--review-run-id",
        str(run_id),
        "--gate",
        gate,
        cwd=kb,
        stdin=review("PASS"),
    )

    refused(result, kb, before)


# --- pair headers in outputs -----------------------------------------------------------------


def block(kb: Path, note: str, gate: str, decision: str = "PASS") -> str:
    """A block with the token of the KB's newest batch (each test makes one)."""
    token = one(store_of(kb), "SELECT boundary_token FROM review_batches ORDER BY id DESC")
    key = f"{note} :: {gate}"
    start, end = (
        f"=== PAIR REVIEW START {token}: {key} ===",
        f"=== PAIR REVIEW END {token}: {key} ===",
    )
    return f"{start}\n{review(decision)}{end}\n\n"


HEADERS: dict[str, Callable[[Path], tuple[str, str]]] = {
    "note ..": lambda kb: ("../../x.md", EX_CLARITY[0]),
    "note .. inside": lambda kb: ("kb/notes/../../../outside.md", EX_CLARITY[0]),
    "note absolute": lambda kb: (str(kb.parent / "outside.md"), EX_CLARITY[0]),
    "note symlinked out": lambda kb: ("kb/notes/leak.md", EX_CLARITY[0]),
    "gate ..": lambda kb: (EX_NOTE, "../../x"),
    "gate .. inside a lens": lambda kb: (EX_NOTE, "clarity/../../../../x"),
    "gate absolute": lambda kb: (EX_NOTE, str(kb.parent / "outside-gate")),
    "both": lambda kb: ("../../x.md", "../../g"),
}


def prepared_batch(cli: Cli, kb: Path) -> str:
    """The id of a new batch for the clarity gates of EX_NOTE."""
    prepared = cli("prepare-review-batch", f"{EX_NOTE}::clarity", *CREATE, "--json", cwd=kb)
    assert prepared.code == 0, prepared.err
    return str(cast(dict[str, Any], prepared.json())["batch_id"])


def mention(header: str) -> str:
    """What the refusal says: a link inside the KB is a path of the KB, just
    not one the run asked for."""
    return "not requested" if header == "note symlinked out" else "outside the knowledge base"


def output_with(kb: Path, header: str, *, all_valid: bool) -> str:
    """An output with the foreign pair, and (when `all_valid`) every expected
    pair too, so that nothing but the foreign header is wrong."""
    note, gate = HEADERS[header](kb)
    expected = "".join(block(kb, EX_NOTE, g) for g in EX_CLARITY) if all_valid else ""
    return block(kb, note, gate) + expected


@pytest.mark.parametrize("all_valid", [True, False], ids=["with-expected", "alone"])
@pytest.mark.parametrize("header", sorted(HEADERS))
@pytest.mark.usefixtures("nothing_written_outside")
def test_ingest_batch_output_refuses_pairs_outside_the_kb(
    cli: Cli, kb: Path, header: str, all_valid: bool
) -> None:
    batch_id = prepared_batch(cli, kb)

    result = cli(
        "ingest-batch-output",
        "--batch-id",
        batch_id,
        "--input-file",
        "-",
        cwd=kb,
        stdin=output_with(kb, header, all_valid=all_valid),
    )

    assert_refused(result, mentions=mention(header))
    nothing_read_from_outside(kb)
    assert_nothing_written_under_a_foreign_name(kb)


@pytest.mark.parametrize("all_valid", [True, False], ids=["with-expected", "alone"])
@pytest.mark.parametrize("header", sorted(HEADERS))
@pytest.mark.usefixtures("nothing_written_outside")
def test_ingest_bundle_output_refuses_pairs_outside_the_kb(
    cli: Cli, kb: Path, header: str, all_valid: bool
) -> None:
    run_id = create_run(cli, kb, EX_NOTE, "clarity")["review_run_id"]

    result = cli(
        "ingest-bundle-output",
        "--review-run-id",
        str(run_id),
        "--input-file",
        "-",
        cwd=kb,
        stdin=output_with(kb, header, all_valid=all_valid),
    )

    assert_refused(result, mentions=mention(header))
    nothing_read_from_outside(kb)
    assert_nothing_written_under_a_foreign_name(kb)


def assert_nothing_written_under_a_foreign_name(kb: Path) -> None:
    """Every artifact is a file named by a store id and an expected gate."""
    reports = kb / "kb" / "reports"
    allowed = {"clarity__description-repeats-title.md", "clarity__undefined-abbreviation.md"}
    for path in reports.rglob("*.md"):
        if path.parent.name.startswith("review-run-"):
            assert path.name in allowed | {"bundle-output.md"}, path


def test_an_input_file_outside_the_kb_is_read_and_nothing_is_written_beside_it(
    cli: Cli, kb: Path
) -> None:
    run_id = create_run(cli, kb, EX_NOTE, "clarity")["review_run_id"]
    output = kb.parent / "outside-dir" / "agent-output.md"
    output.write_text("".join(block(kb, EX_NOTE, g) for g in EX_CLARITY), encoding="utf-8")
    before = listing(kb.parent, kb)

    result = cli(
        "ingest-bundle-output",
        "--review-run-id",
        str(run_id),
        "--input-file",
        str(output),
        cwd=kb,
    )

    assert result.code == 0, result.err
    assert listing(kb.parent, kb) == before


def test_ingest_batch_output_reads_an_input_file_outside_the_kb(cli: Cli, kb: Path) -> None:
    batch_id = prepared_batch(cli, kb)
    output = kb.parent / "outside-dir" / "batch-output.md"
    output.write_text("".join(block(kb, EX_NOTE, g) for g in EX_CLARITY), encoding="utf-8")
    before = listing(kb.parent, kb)

    relative = "../outside-dir/batch-output.md"

    result = cli("ingest-batch-output", "--batch-id", batch_id, "--input-file", relative, cwd=kb)

    assert result.code == 0, result.err
    assert listing(kb.parent, kb) == before


# --- prepare-review-batch NOTE::GATE ---------------------------------------------------------


@pytest.mark.parametrize(
    "pair",
    [
        "../outside.md::clarity",
        "../outside.md :: clarity",
        "kb/notes/../../../outside.md::clarity",
        "kb/notes/leak.md::clarity",
        "kb/notes/elsewhere/x.md::clarity",
        f"{EX_NOTE}::../../../../outside-gate",
        f"{EX_NOTE}::clarity/../../../../../outside-gate",
        "../outside.md::../../g",
        "::clarity",
        f"{EX_NOTE}::",
    ],
)
@pytest.mark.usefixtures("nothing_written_outside")
def test_prepare_review_batch_refuses_traversal(cli: Cli, kb: Path, pair: str) -> None:
    before = dump(store_of(kb))

    result = cli("prepare-review-batch", pair, *CREATE, cwd=kb)

    refused(result, kb, before)


@pytest.mark.usefixtures("nothing_written_outside")
def test_an_absolute_pair_outside_is_refused(cli: Cli, kb: Path) -> None:
    before = dump(store_of(kb))

    result = cli("prepare-review-batch", f"{kb.parent / 'outside.md'}::clarity", *CREATE, cwd=kb)

    refused(result, kb, before)
