"""No write leaves the KB through a symbolic link (SPEC 13). A committed link
at `kb/reports`, at `bundle-reviews`, at the `review-batch-N` or `review-run-N`
folder a command is about to write, at a file inside one, at the store or its
`-wal`/`-shm`, or at `--out`, points into a folder outside the KB. Every
command that writes is run through its real console script: it refuses with
an `error:` line naming the link, and the outside folder (its every byte and
entry hashed) is exactly as it was. Each command also runs once with no link,
which shows that its setup would otherwise succeed."""

from __future__ import annotations

import gc
import hashlib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpers.cli import (
    CREATE,
    DEMO_MODEL,
    EX_CLARITY,
    EX_NOTE,
    Cli,
    assert_refused,
    create_run,
    write_reviews,
)
from helpers.commands import run_script
from helpers.db import STORE, TABLES, dump
from helpers.groups import REAPS_ORPHANS
from helpers.kb import git
from helpers.reviews import review

from commonplace.protocol.grammar import Pair, block

REVIEWS = "kb/reports/bundle-reviews"
BUNDLE = ("--runner", "stand-in", "--model", "demo", "--quiet")

# Where a link may be committed; `{batch}` and `{run}` are the ids the command writes.
PLACES: dict[str, tuple[str, str]] = {  # name: (path, "dir" or "file")
    "reports": ("kb/reports", "dir"),
    "bundle-reviews": (REVIEWS, "dir"),
    "review-batch": (REVIEWS + "/review-batch-{batch}", "dir"),
    "prompt": (REVIEWS + "/prompts", "dir"),  # prompts are kept once, by content
    "batch-output": (REVIEWS + "/review-batch-{batch}/bundle-output.md", "file"),
    "review-run": (REVIEWS + "/review-run-{run}", "dir"),
    "run-document": (REVIEWS + "/review-run-{run}/bundle-output.md", "file"),
    "gate-file": (REVIEWS + "/review-run-{run}/clarity__description-repeats-title.md", "file"),
    "store": (STORE, "file"),
    "store-wal": (STORE + "-wal", "file"),
    "store-shm": (STORE + "-shm", "file"),
    "store-journal": (STORE + "-journal", "file"),
    "out-file": ("report.json", "file"),
    "out-folder": ("out", "dir"),
}
STORE_PLACES = ("reports", "store", "store-wal", "store-shm", "store-journal")
RUN_PLACES = ("bundle-reviews", "review-run", "run-document", "gate-file")
BATCH_PLACES = ("bundle-reviews", "review-batch", "prompt")
EXECUTED = (*STORE_PLACES, *BATCH_PLACES, "batch-output", *RUN_PLACES[1:])


@dataclass
class Setup:
    """A command ready to run: its arguments and the ids it will write."""

    args: list[str]
    batch: int = 1
    run: int = 1
    stdin: str | None = None


def output(token: str) -> str:
    """A passing review of every clarity pair of the note, in the batch's grammar."""
    body = "### Summary\nFine.\n\n### Findings\n- none\n\n## Result: PASS\n"
    return "\n".join(block(Pair(EX_NOTE, gate), body, token=token) for gate in EX_CLARITY)


def fresh(args: list[str]) -> Callable[[Cli, Path], Setup]:
    return lambda cli, kb: Setup(args)


def a_run(cli: Cli, kb: Path, *extra: str) -> int:
    return int(create_run(cli, kb, EX_NOTE, "clarity", extra=extra)["review_run_id"])


def written_run(cli: Cli, kb: Path) -> Setup:
    run = a_run(cli, kb)
    write_reviews(cli, kb, run, EX_CLARITY)
    return Setup(["finalize-review-run", "--review-run-id", str(run)], run=run)


def prepared_batch(cli: Cli, kb: Path) -> Setup:
    made = cli("prepare-review-batch", f"{EX_NOTE}::clarity", *CREATE, "--json", cwd=kb)
    assert made.code == 0, made.err
    batch = int(made.json()["batch_id"])  # type: ignore[call-overload,index]
    token = str(made.json()["boundary_token"])  # type: ignore[call-overload,index]
    args = ["ingest-batch-output", "--batch-id", str(batch), "--input-file", "-"]
    return Setup(args, batch=batch, stdin=output(token))


def running_run(cli: Cli, kb: Path) -> Setup:
    made = create_run(cli, kb, EX_NOTE, "clarity")
    run, token = int(made["review_run_id"]), str(made["boundary_token"])
    args = ["ingest-bundle-output", "--review-run-id", str(run), "--input-file", "-"]
    return Setup(args, run=run, stdin=output(token))


def reviewed_note(cli: Cli, kb: Path) -> Setup:
    done = cli("run-review-bundle", EX_NOTE, "clarity", *BUNDLE, cwd=kb)
    assert done.code == 0, done.err
    return Setup(["relocate-note", EX_NOTE, "kb/notes/moved.md"])


def trivially_changed(cli: Cli, kb: Path) -> Setup:
    reviewed_note(cli, kb)
    with (kb / EX_NOTE).open("a", encoding="utf-8") as handle:
        handle.write("\nOne more line of body.\n")
    git(kb, "add", EX_NOTE)
    git(kb, "commit", "-q", "-m", "edit the body")
    return Setup(["ack-trivial-note-changes", "clarity", "--model", "demo"])


def a_review_to_write(cli: Cli, kb: Path) -> Setup:
    run = a_run(cli, kb)
    args = ["write-gate-review", "--review-run-id", str(run), "--gate", EX_CLARITY[0]]
    return Setup(args, run=run, stdin=review("PASS"))


def with_store(args: list[str]) -> Callable[[Cli, Path], Setup]:
    def setup(cli: Cli, kb: Path) -> Setup:
        a_run(cli, kb)
        return Setup(args)

    return setup


SWEEP = ["review-sweep", "clarity", "--note", EX_NOTE, "--runner", "stand-in", "--model", "demo"]
GATE_SWEEP = ["run-gate-sweep", EX_CLARITY[0], "--note", EX_NOTE, *BUNDLE]
PREPARE = ["prepare-review-batch", f"{EX_NOTE}::clarity", *CREATE]
WITH_PROMPT = ["create-review-run", EX_NOTE, "clarity", *CREATE, "--with-prompt"]
ACK = ["ack-gate-review", EX_NOTE, "clarity", "--model", DEMO_MODEL]
REPORT = ["review-report", "--format", "json", "--model", DEMO_MODEL]

# command: (setup, the places it writes through)
COMMANDS: dict[str, tuple[Callable[[Cli, Path], Setup], tuple[str, ...]]] = {
    "review-sweep": (fresh(SWEEP), EXECUTED),
    "run-review-bundle": (fresh(["run-review-bundle", EX_NOTE, "clarity", *BUNDLE]), EXECUTED),
    "run-gate-sweep": (fresh(GATE_SWEEP), EXECUTED),
    "prepare-review-batch": (fresh(PREPARE), (*STORE_PLACES, *BATCH_PLACES)),
    "create-review-run": (fresh(WITH_PROMPT[:-1]), STORE_PLACES),
    "create-review-run --with-prompt": (fresh(WITH_PROMPT), (*STORE_PLACES, *BATCH_PLACES)),
    "write-gate-review": (a_review_to_write, STORE_PLACES),
    "finalize-review-run": (written_run, (*STORE_PLACES, *RUN_PLACES)),
    "ingest-batch-output": (prepared_batch, (*STORE_PLACES, "batch-output", *RUN_PLACES)),
    "ingest-bundle-output": (
        running_run,
        (*STORE_PLACES, "review-batch", "batch-output", *RUN_PLACES),
    ),
    "relocate-note": (reviewed_note, (*STORE_PLACES, *RUN_PLACES[:3])),
    "review-report --out": (
        with_store([*REPORT, "--out", "report.json"]),
        ("reports", "store", "store-wal", "store-shm", "out-file"),
    ),
    "review-report --out into a folder": (
        with_store([*REPORT, "--out", "out/report.json"]),
        ("out-folder",),
    ),
    "ack-gate-review": (fresh(ACK), STORE_PLACES),
    "ack-trivial-note-changes": (trivially_changed, STORE_PLACES),
    "repair-codex-model-partitions": (
        with_store(["repair-codex-model-partitions", "--runner", "codex"]),
        STORE_PLACES,
    ),
    "reap-stale-runs": (with_store(["reap-stale-runs", "--older-than", "0s"]), STORE_PLACES),
    "review-store migrate": (fresh(["review-store", "migrate"]), STORE_PLACES),
}
# Commands that know the ids they write before they change the store, and
# so refuse a link at those runs' folders or files before it changes.
KNOWN_IDS = {"finalize-review-run", "ingest-batch-output", "ingest-bundle-output", "relocate-note"}
PER_ID = {"review-batch", "batch-output", "review-run", "run-document", "gate-file"}


def refused_early(command: str, place: str) -> bool:
    """Whether the store must be as it was (the store places are refused
    before SQLite opens anything, and are not reopened here)."""
    return place == "bundle-reviews" or (command in KNOWN_IDS and place in PER_ID)


CASES = [(c, p) for c, (_, places) in COMMANDS.items() for p in ("no link", *places)]


def rows_of(kb: Path, db: str = STORE) -> dict[str, Any]:
    """The store's rows; an absent store and an empty one read the same (a
    sweep makes the empty store before it reaches the reports folder)."""
    found = dump(kb / db) or {}
    return {table: rows for table, rows in found.items() if table in TABLES and rows}


def tree(root: Path) -> dict[str, str]:
    """Every entry under `root`: a hash of each file's bytes, each link's target."""
    found: dict[str, str] = {}
    for folder, folders, files in os.walk(root):
        for name in [*folders, *files]:
            path = Path(folder, name)
            key = str(path.relative_to(root))
            if path.is_symlink():
                found[key] = "link " + os.readlink(path)
            elif path.is_dir():
                found[key] = "folder"
            else:
                found[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def plant(kb: Path, outside: Path, relative: str, kind: str) -> Path:
    """Commit a link at `relative` into `outside`. What the KB had there moves
    outside (a store, a prompt) so that following the link would change it;
    else the target is an empty folder or a file with a few bytes."""
    here, there = kb / relative, outside / relative.replace("/", "__")
    # The in-process setup can leave store connections to the cyclic garbage
    # collector; one closed later would delete the -wal path, link and all.
    # Close them now, as the exit of a real command would have.
    gc.collect()
    if os.path.lexists(here):
        shutil.move(here, there)
    elif kind == "dir":
        there.mkdir()
    else:
        there.write_bytes(b"" if "sqlite" in relative else b"outside the KB\n")
    here.parent.mkdir(parents=True, exist_ok=True)
    here.symlink_to(there, target_is_directory=kind == "dir")
    git(kb, "add", "-f", relative)
    git(kb, "commit", "-q", "-m", f"a link at {relative}")
    return there


@pytest.mark.parametrize(
    ("command", "place"),
    [
        pytest.param(c, p, id=f"{c}: {p}", marks=[REAPS_ORPHANS] if c == "reap-stale-runs" else [])
        for c, p in CASES
    ],
)
def test_no_command_writes_through_a_committed_link(
    cli: Cli, example_kb: Path, tmp_path: Path, command: str, place: str
) -> None:
    kb, outside = example_kb, tmp_path / "outside"
    outside.mkdir()
    setup = COMMANDS[command][0](cli, kb)
    if place != "no link":
        path, kind = PLACES[place]
        plant(kb, outside, path.format(batch=setup.batch, run=setup.run), kind)
    before = tree(outside)
    early = refused_early(command, place)
    store_before = rows_of(kb) if early else None

    name, *args = setup.args
    result = run_script(f"commonplace-{name}", args, cwd=kb, stdin=setup.stdin)

    if place == "no link":
        assert result.returncode == 0, result.stderr
    else:
        error = assert_refused(result, 1, mentions="symbolic link")
        assert "refusing to write" in error
    assert tree(outside) == before
    if early:
        assert rows_of(kb) == store_before
        assert (kb / EX_NOTE).is_file()  # relocate-note moved nothing


def test_a_note_is_not_moved_through_a_link_that_stays_inside_the_kb(
    cli: Cli, example_kb: Path
) -> None:
    kb = example_kb
    (kb / "kb" / "notes" / "archive").mkdir()
    (kb / "kb" / "notes" / "shortcut").symlink_to("archive")
    git(kb, "add", "-A")
    git(kb, "commit", "-q", "-m", "a link to a folder inside the KB")

    result = cli("relocate-note", EX_NOTE, "kb/notes/shortcut/moved.md", cwd=kb)

    assert_refused(result, 1, mentions="kb/notes/shortcut is a symbolic link")
    assert (kb / EX_NOTE).is_file()
    assert not (kb / "kb" / "notes" / "archive" / "moved.md").exists()


def test_a_store_named_by_the_environment_is_not_opened_through_a_link(
    example_kb: Path, tmp_path: Path
) -> None:
    real = tmp_path / "real.sqlite"
    real.write_bytes(b"")
    (tmp_path / "linked.sqlite").symlink_to(real)

    result = run_script(
        "commonplace-review-store",
        ["migrate"],
        cwd=example_kb,
        env={"COMMONPLACE_REVIEW_DB": str(tmp_path / "linked.sqlite")},
    )

    assert_refused(result, 1, mentions="COMMONPLACE_REVIEW_DB")
    assert real.read_bytes() == b""


def test_out_may_name_any_folder_but_never_a_link_at_the_file(
    example_kb: Path, tmp_path: Path
) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "via").symlink_to(tmp_path / "real")  # the user's own layout, outside the KB
    report = ["--format", "json", "--model", DEMO_MODEL, "--out"]

    written = run_script(
        "commonplace-review-report", [*report, str(tmp_path / "via" / "r.json")], cwd=example_kb
    )
    assert written.returncode == 0, written.stderr
    assert (tmp_path / "real" / "r.json").is_file()

    (tmp_path / "real" / "victim").write_text("keep\n", encoding="utf-8")
    (tmp_path / "r2.json").symlink_to(tmp_path / "real" / "victim")
    refused = run_script(
        "commonplace-review-report", [*report, str(tmp_path / "r2.json")], cwd=example_kb
    )
    assert_refused(refused, 1, mentions="--out")
    assert (tmp_path / "real" / "victim").read_text(encoding="utf-8") == "keep\n"


def test_a_configured_reports_folder_reached_through_a_link_is_refused_by_name(
    cli: Cli, example_kb: Path
) -> None:
    kb = example_kb
    (kb / "kb" / "real").mkdir()
    (kb / "kb" / "out").symlink_to("real")  # stays inside the KB, still never followed
    toml = kb / "commonplace.toml"
    settings = 'reports_dir = "kb/out"\nstore = "store.sqlite"\n'
    toml.write_text(settings + toml.read_text(encoding="utf-8"), encoding="utf-8")
    git(kb, "add", "-A")
    git(kb, "commit", "-q", "-m", "reports through a link")

    result = cli("prepare-review-batch", f"{EX_NOTE}::clarity", *CREATE, cwd=kb)

    error = assert_refused(result, 1, mentions="kb/out is a symbolic link")
    assert 'reports_dir = "kb/out" in commonplace.toml' in error
    assert list((kb / "kb" / "real").iterdir()) == []
    assert rows_of(kb, "store.sqlite") == {}  # refused before any run was made
