"""`commonplace-review-store export` and `import` from the command line: the
dump on stdout or in a file, stdin as a source, and hostile dumps, each
refused with `error: FILE line N: ...`, exit 1, nothing written."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers.commands import Result
from helpers.db import STORE, dump
from helpers.transfer import end_counts, export_text, open_store

from commonplace.services.dump_format import MAX_LINE

Cli = Callable[..., Result]


def good_dump(cli: Cli, kb: Path) -> str:
    done = cli("review-store", "export", cwd=kb)
    assert done.code == 0, done.err
    return done.out


def lines_of(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


def joined(documents: list[dict[str, object]]) -> str:
    return "".join(json.dumps(d) + "\n" for d in documents)


def first(documents: list[dict[str, object]], table: str) -> dict[str, object]:
    return next(d for d in documents if d.get("table") == table)


def _edit(change: Callable[[list[dict[str, object]]], None]) -> Callable[[str], str]:
    def edit(text: str) -> str:
        documents = lines_of(text)
        change(documents)
        return joined(documents)

    return edit


def _set(table: str, column: str, value: object) -> Callable[[str], str]:
    return _edit(lambda d: first(d, table)["row"].__setitem__(column, value))  # type: ignore[attr-defined]


def _header(key: str, value: object) -> Callable[[str], str]:
    return _edit(lambda d: d[0].__setitem__(key, value))


def _move_snapshot_last(documents: list[dict[str, object]]) -> None:
    """The first snapshot moved after the first batch."""
    batch = documents.index(first(documents, "review_batches"))
    documents.insert(batch, documents.pop(1))


# name -> (how the good dump is spoiled, words the error must hold)
HOSTILE: dict[str, tuple[Callable[[str], str], str]] = {
    "truncated": (lambda t: "".join(t.splitlines(keepends=True)[:-1]), "without its end line"),
    "cut mid-line": (lambda t: t[: len(t) // 2], "cut off"),
    "a row missing": (
        lambda t: "".join(t.splitlines(keepends=True)[:-2] + t.splitlines(keepends=True)[-1:]),
        "acceptance_events rows, the dump holds",
    ),
    "wrong format": (_header("format", "sqlite-dump"), "line 1: not a review store dump"),
    "wrong version": (_header("version", 2), "line 1: dump format version 2"),
    "newer schema": (_header("schema_version", 99), "line 1: the dump has schema version 99"),
    "bad enum": (_set("gate_reviews", "decision", "maybe"), "not one of pass, warn"),
    "missing uid": (_set("review_runs", "batch_uid", "0" * 32), "names no review_batches row"),
    "bad snapshot": (_set("snapshots", "text", "forged"), "does not hash to its sha"),
    "bad status rule": (_set("review_runs", "completed_at", None), "a completed run"),
    "a bool for a number": (_set("review_run_gates", "ordinal", True), "64-bit integer"),
    "an unknown column": (_set("review_runs", "secret", 1), "unknown columns ['secret']"),
    "lone surrogate": (_set("review_runs", "note_path", "\ud800.md"), "lone surrogate"),
    "out of order": (_edit(_move_snapshot_last), "out of order"),
    "non-JSON": (lambda t: t.replace("\n", "\nnot json\n", 1), "line 2: not JSON"),
    "NaN": (lambda t: t.replace('"ordinal":0', '"ordinal":NaN', 1), "not JSON"),
    "duplicate key": (
        lambda t: t.replace('"ordinal":0', '"ordinal":0,"ordinal":1', 1),
        "a key appears twice",
    ),
    "text after the end": (lambda t: t + t.splitlines(keepends=True)[0], "after the end line"),
    "a number too big": (_set("review_run_gates", "ordinal", 2**70), "64-bit integer"),
    "deep nesting": (lambda t: t.replace("\n", "\n" + "[" * 100_000 + "\n", 1), "not JSON"),
    "a table that is a list": (_edit(lambda d: d[1].__setitem__("table", [1])), "unknown table"),
    "empty": (lambda t: "", "is empty"),
    "not a dump at all": (lambda t: "[1, 2]\n", "line 1: not a JSON object"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_dump_is_refused_and_nothing_is_written(
    cli: Cli, swept_kb: Path, tmp_path: Path, case: str
) -> None:
    spoil, words = HOSTILE[case]
    path = tmp_path / "dump.jsonl"
    path.write_text(spoil(good_dump(cli, swept_kb)), encoding="utf-8", errors="surrogatepass")
    target = tmp_path / "target.sqlite"

    done = cli("review-store", "import", str(path), "--db", str(target), cwd=swept_kb)

    assert done.code == 1, done.out + done.err
    assert done.err.startswith(f"error: {path}"), done.err
    assert words in done.err
    assert "Traceback" not in done.err
    assert not target.exists()  # refused before the store was even opened


def test_a_huge_line_is_refused_without_reading_past_the_cap(
    cli: Cli, swept_kb: Path, tmp_path: Path
) -> None:
    path = tmp_path / "huge.jsonl"
    with path.open("wb") as handle:  # sparse: no disk is spent on it
        handle.write(b'{"format":"commonplace-review-store-dump","version":1,"schema_version":5}\n')
        handle.truncate(MAX_LINE + 1024)
    target = tmp_path / "target.sqlite"
    done = cli("review-store", "import", str(path), "--db", str(target), cwd=swept_kb)
    assert done.code == 1
    assert f"line 2: longer than {MAX_LINE} bytes" in done.err
    assert not target.exists()


def test_rows_that_would_break_the_invariants_are_all_rolled_back(
    cli: Cli, swept_kb: Path, tmp_path: Path
) -> None:
    """Each row is fine alone; a review of another note than its run's is not."""
    text = _set("gate_reviews", "note_path", "kb/notes/other.md")(good_dump(cli, swept_kb))
    path = tmp_path / "dump.jsonl"
    path.write_text(text, encoding="utf-8")
    target = tmp_path / "target.sqlite"
    seeded = cli("review-store", "migrate", "--db", str(target), cwd=swept_kb)
    assert seeded.code == 0, seeded.err
    before = dump(target)
    done = cli("review-store", "import", str(path), "--db", str(target), cwd=swept_kb)
    assert done.code == 1
    assert "would break" in done.err and "nothing imported" in done.err
    assert dump(target) == before


def test_import_reads_stdin_and_repeats_as_a_no_op(
    cli: Cli, swept_kb: Path, tmp_path: Path
) -> None:
    text = good_dump(cli, swept_kb)
    target = tmp_path / "target.sqlite"
    args = ("review-store", "import", "-", "--db", str(target), "--json")
    done = cli(*args, cwd=swept_kb, stdin=text)
    assert done.code == 0, done.err
    payload = done.json()
    assert isinstance(payload, dict)
    counts = end_counts(text)
    assert payload["added"] == sum(counts.values())
    assert payload["tables"]["review_runs"] == {
        "read": counts["review_runs"],
        "added": counts["review_runs"],
        "already_present": 0,
        "differing": 0,
        "skipped": 0,
    }
    again = cli(*args, cwd=swept_kb, stdin=text)
    assert again.json()["added"] == 0  # type: ignore[index]
    assert export_text(target) == text
    assert cli("review-store", "check", "--db", str(target), cwd=swept_kb).code == 0


def test_export_out_writes_the_file_and_refuses_a_link(
    cli: Cli, swept_kb: Path, tmp_path: Path
) -> None:
    out = tmp_path / "history.jsonl"
    done = cli("review-store", "export", "--out", str(out), "--json", cwd=swept_kb)
    assert done.code == 0, done.err
    assert out.read_text(encoding="utf-8") == export_text(swept_kb / STORE)
    assert done.json()["rows"] == sum(end_counts(out.read_text()).values())  # type: ignore[index]

    victim = tmp_path / "victim"
    victim.write_text("keep me", encoding="utf-8")
    link = tmp_path / "link.jsonl"
    link.symlink_to(victim)
    refused = cli("review-store", "export", "--out", str(link), cwd=swept_kb)
    assert refused.code == 1
    assert "symbolic link" in refused.err and "--out" in refused.err
    assert victim.read_text(encoding="utf-8") == "keep me" and link.is_symlink()
    assert sorted(os.listdir(tmp_path)) == sorted(["history.jsonl", "victim", "link.jsonl", "kb"])


@pytest.mark.parametrize(
    "args",
    [
        ("import",),
        ("export", "file.jsonl"),
        ("check", "--out", "x"),
        ("export", "--json"),
        ("stats", "file.jsonl"),
    ],
)
def test_usage_mistakes(cli: Cli, swept_kb: Path, args: tuple[str, ...]) -> None:
    done = cli("review-store", *args, cwd=swept_kb)
    assert done.code == 2
    assert done.err.startswith("error: ")


def test_import_refuses_what_is_not_a_regular_file(
    cli: Cli, swept_kb: Path, tmp_path: Path
) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    target = tmp_path / "target.sqlite"
    for source in (str(fifo), str(tmp_path), str(tmp_path / "missing.jsonl")):
        done = cli("review-store", "import", source, "--db", str(target), cwd=swept_kb)
        assert done.code == 1 and done.err.startswith("error: cannot read"), done.err
    assert not target.exists()


def test_postgresql_refuses_a_nul_and_a_bad_dump_writes_nothing(
    cli: Cli, swept_kb: Path, tmp_path: Path, postgres_schema: tuple[str, str]
) -> None:
    url, schema = postgres_schema
    target = f"{url}?schema={schema}"
    nothing = cli("review-store", "export", "--db", target, cwd=swept_kb)
    assert nothing.code == 1 and "no review store at" in nothing.err and nothing.out == ""
    text = good_dump(cli, swept_kb)
    path = tmp_path / "dump.jsonl"
    for spoil, words in (
        (_set("review_runs", "debug_log", "a\0b"), "a PostgreSQL store cannot keep"),
        HOSTILE["missing uid"],
    ):
        path.write_text(spoil(text), encoding="utf-8")
        done = cli("review-store", "import", str(path), "--db", target, cwd=swept_kb)
        assert done.code == 1 and words in done.err, done.err
        with open_store(target) as store:
            assert not store.exists
    path.write_text(_set("review_runs", "debug_log", "a\0b")(text), encoding="utf-8")
    into_sqlite = tmp_path / "nul.sqlite"  # SQLite keeps a NUL as it is
    done = cli("review-store", "import", str(path), "--db", str(into_sqlite), cwd=swept_kb)
    assert done.code == 0, done.err
