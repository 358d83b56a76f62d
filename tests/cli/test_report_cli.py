"""`commonplace-review-report --format markdown|json|sarif|junit [--model M]
[--note PATH...] [--out F]` as a user meets it: `--out` (from the working
directory, atomic, nothing on stdout), the partition chosen, reading without
ever creating the store, and refusals with exit codes and no traceback.
(The formats' contents are tested in tests/review/reports/.)"""

from __future__ import annotations

import json
import re
import resource
import shutil
import subprocess
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from helpers.cli import CLAIM_NOTE, PLAIN_NOTE, Cli, Result, assert_refused
from helpers.commands import console_script, run_script
from helpers.db import dump, store_of
from helpers.reviewed_corpus import (
    FOLDER,
    MODEL,
    OTHER_MODEL,
    OTHER_MODEL_ID,
    isolated,
    review_pairs,
    run_command,
    scenario_kb,
)

FORMATS = ("markdown", "json", "sarif", "junit")
# A timestamp, as in generated_at (which differs from one report to the next).
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


def report(cli: Cli, kb: Path, fmt: str, *args: str, cwd: Path | None = None) -> Result:
    note = ("--note", CLAIM_NOTE) if fmt == "markdown" and "--note" not in args else ()
    return cli("review-report", "--format", fmt, *note, *args, cwd=cwd or kb)


def same_report(one: str, other: str) -> bool:
    return TIMESTAMP.sub("T", one) == TIMESTAMP.sub("T", other)


def model_of(fmt: str, text: str) -> str:
    """The partition a report says it covers."""
    if fmt == "json":
        return str(json.loads(text)["model_id"])
    if fmt == "sarif":
        return str(json.loads(text)["runs"][0]["properties"]["model_id"])
    if fmt == "junit":
        return str(ET.fromstring(text.encode("utf-8")).get("name", "")).split()[-1]
    match = re.search(r"^Partition `([^`]+)`", text, re.MULTILINE)
    assert match is not None, text
    return match.group(1)


@pytest.fixture(scope="module")
def reviewed_kb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The corpus with the scenario reviewed for MODEL and one pair for
    OTHER_MODEL, made once: tests read it, and write reports only into
    folders of their own."""
    copy = tmp_path_factory.mktemp("report-cli") / "kb"
    kb = Path(shutil.copytree(scenario_kb(tmp_path_factory), copy, symlinks=True))
    with isolated(tmp_path_factory):
        review_pairs(
            run_command,
            kb,
            {(CLAIM_NOTE, "prose/source-residue"): ("FAIL", ())},
            model=OTHER_MODEL,
        )
    return kb


# --- --out -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_out_writes_the_report_relative_to_the_working_directory(
    cli: Cli, reviewed_kb: Path, fmt: str
) -> None:
    kb = reviewed_kb
    cwd = kb / "kb" / "notes"
    printed = report(cli, kb, fmt, cwd=cwd)
    assert printed.code == 0, printed.err

    out = f"out-{fmt}/report.{fmt}"
    written = report(cli, kb, fmt, "--out", out, cwd=cwd)
    assert written.code == 0, written.err
    assert written.out == ""
    assert out in written.err
    target = cwd / out
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temporary left
    assert same_report(target.read_text(encoding="utf-8"), printed.out)
    assert not (kb / f"out-{fmt}").exists()


def test_out_replaces_an_existing_file_and_takes_absolute_paths(
    cli: Cli, reviewed_kb: Path, tmp_path: Path
) -> None:
    target = tmp_path / "elsewhere" / "report.json"
    target.parent.mkdir()
    target.write_text("old contents that are longer than nothing" * 1000, encoding="utf-8")
    written = report(cli, reviewed_kb, "json", "--out", str(target))
    assert written.code == 0, written.err
    assert json.loads(target.read_text(encoding="utf-8"))["model_id"] == MODEL
    assert list(target.parent.iterdir()) == [target]


def test_out_where_nothing_can_be_written_is_refused(cli: Cli, reviewed_kb: Path) -> None:
    (reviewed_kb / "a-file").write_text("not a folder", encoding="utf-8")
    result = report(cli, reviewed_kb, "json", "--out", "a-file/report.json")
    assert_refused(result, 1, mentions="cannot write")
    assert result.out == ""
    assert (reviewed_kb / "a-file").read_text(encoding="utf-8") == "not a folder"


def test_html_out_is_written_piece_by_piece_and_whole(cli: Cli, reviewed_kb: Path) -> None:
    cwd = reviewed_kb / "out-html"  # links are relative to the report: write it where it prints
    cwd.mkdir()
    printed = report(cli, reviewed_kb, "html", cwd=cwd)
    assert printed.code == 0, printed.err
    written = report(cli, reviewed_kb, "html", "--out", "report.html", cwd=cwd)
    assert written.code == 0, written.err
    assert written.out == ""
    shown_time = re.compile(r"<time [^>]*>[^<]*</time>")
    page = shown_time.sub("", (cwd / "report.html").read_text(encoding="utf-8"))
    assert page == shown_time.sub("", printed.out)
    assert page.endswith("</html>\n") and len(page) > 10_000
    assert [p.name for p in cwd.iterdir()] == ["report.html"]


def test_a_write_failing_midway_leaves_the_old_report(reviewed_kb: Path, tmp_path: Path) -> None:
    """The page is streamed to a temporary file: a write that fails part way
    (here a file size limit of 8 KB, far below the page) is a clear error,
    and the report already there stays as it was."""
    target = tmp_path / "report.html"
    target.write_text("the old report", encoding="utf-8")

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (8192, resource.RLIM_INFINITY))

    result = subprocess.run(
        [console_script("commonplace-review-report"), "--format", "html", "--out", str(target)],
        cwd=reviewed_kb,
        capture_output=True,
        text=True,
        preexec_fn=small_files,
        check=False,
    )
    assert_refused(result, 1, mentions="cannot write")
    assert target.read_text(encoding="utf-8") == "the old report"
    assert list(tmp_path.iterdir()) == [target]  # no temporary left


# --- the partition ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_model_picks_the_partition(cli: Cli, reviewed_kb: Path, fmt: str) -> None:
    default = report(cli, reviewed_kb, fmt)
    other = report(cli, reviewed_kb, fmt, "--model", OTHER_MODEL)
    same = report(cli, reviewed_kb, fmt, "--model", MODEL)
    assert default.code == other.code == same.code == 0, default.err + other.err + same.err
    assert model_of(fmt, default.out) == MODEL  # the partition with the most acceptances
    assert model_of(fmt, other.out) == OTHER_MODEL_ID
    assert same_report(default.out, same.out)
    assert not same_report(default.out, other.out)


def test_the_configured_default_model_picks_the_partition(
    cli: Cli, reviewed_kb: Path, tmp_path: Path
) -> None:
    kb = Path(shutil.copytree(reviewed_kb, tmp_path / "kb", symlinks=True))
    (kb / "commonplace.toml").write_text(f'[defaults]\nmodel = "{OTHER_MODEL}"\n', "utf-8")
    result = report(cli, kb, "json")
    assert result.code == 0, result.err
    assert model_of("json", result.out) == OTHER_MODEL_ID


def test_notes_narrow_the_report(cli: Cli, reviewed_kb: Path) -> None:
    result = report(cli, reviewed_kb, "json", "--note", FOLDER, PLAIN_NOTE)
    assert result.code == 0, result.err
    in_folder = [p for p in (reviewed_kb / FOLDER).iterdir() if p.suffix == ".md"]
    assert json.loads(result.out)["notes"] == len(in_folder) + 1
    outside = report(cli, reviewed_kb, "json", "--note", str(reviewed_kb.parent))
    assert_refused(outside, 1, mentions="outside the knowledge base")


# --- reading an empty or absent store --------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_reviews_and_no_model_is_a_clear_error(
    cli: Cli, corpus_kb: Path, fmt: str, tmp_path: Path
) -> None:
    out = tmp_path / "report.out"
    result = report(cli, corpus_kb, fmt, "--out", str(out))
    assert_refused(result, 1, mentions="--model")
    assert result.out == ""
    assert not out.exists()
    assert not store_of(corpus_kb).exists()


@pytest.mark.parametrize("fmt", FORMATS)
def test_reading_never_creates_the_store(cli: Cli, corpus_kb: Path, fmt: str) -> None:
    result = report(cli, corpus_kb, fmt, "--model", MODEL)
    assert result.code == 0, result.err
    assert model_of(fmt, result.out) == MODEL
    assert not store_of(corpus_kb).exists()
    elsewhere = corpus_kb.parent / "nowhere" / "store.sqlite"
    # A store named by --db that does not exist is a mistake, not an empty store.
    named = report(cli, corpus_kb, fmt, "--model", MODEL, "--db", str(elsewhere))
    assert_refused(named, 1, mentions="--db")
    assert not elsewhere.parent.exists()


def test_reading_changes_nothing_in_the_store(cli: Cli, reviewed_kb: Path) -> None:
    before = dump(store_of(reviewed_kb))
    for fmt in FORMATS:
        assert report(cli, reviewed_kb, fmt).code == 0
    assert dump(store_of(reviewed_kb)) == before


def test_a_store_that_is_not_a_database_is_refused(cli: Cli, corpus_kb: Path) -> None:
    store = store_of(corpus_kb)
    store.parent.mkdir(parents=True)
    store.write_bytes(b"not a database at all" * 100)
    result = report(cli, corpus_kb, "json")
    assert_refused(result, 1, mentions="review store")
    assert store.read_bytes() == b"not a database at all" * 100


# --- usage -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [(), ("--format", "pdf"), ("--format", "json", "--effort", "extreme")],
    ids=["no-format", "unknown-format", "unknown-effort"],
)
def test_usage_errors_exit_2(cli: Cli, reviewed_kb: Path, args: tuple[str, ...]) -> None:
    result = cli("review-report", *args, cwd=reviewed_kb)
    assert_refused(result, 2)
    assert result.out == ""


def test_the_console_script_reports_without_a_traceback(reviewed_kb: Path) -> None:
    done = run_script("commonplace-review-report", ["--format", "sarif"], cwd=reviewed_kb)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["version"] == "2.1.0"
    refused = run_script(
        "commonplace-review-report",
        ["--format", "markdown", "--note", CLAIM_NOTE, "kb/notes"],
        cwd=reviewed_kb,
    )
    assert_refused(refused, 2, mentions="--note")
