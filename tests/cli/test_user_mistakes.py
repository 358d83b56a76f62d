"""User mistakes get a clear `error: ...`, exit 1 or 2, never a traceback or
exit 3, and leave nothing half-written: out-of-range options, a store path
that names no file on a read path, scan roots without notes, output encodings
that cannot show a note name, `--note` before gate arguments, and result lines
the parser cannot read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import pytest
from helpers.cli import EX_CLARITY, EX_NOTE, Cli, assert_refused
from helpers.commands import run_script
from helpers.db import dump, one, store_of
from helpers.kb import commit_all

SEEDS = "kb/notes/seed-packets.md"
MODEL = ("--model", "demo")


def _script(kb: Path, name: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_script(f"commonplace-{name}", list(args), cwd=kb, env=env)


def _no_crash(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    assert "unexpected error" not in result.stderr, result.stderr
    assert result.returncode != 3, result.stderr


# --- numbers, durations and ids ------------------------------------------------------------

BAD_DURATIONS = ("99999999999d", "36501d", "1e400", "nan", "inf", "1e3", "١٢", "١٢s", "-1s", "")


@pytest.mark.parametrize("value", BAD_DURATIONS)
def test_reap_refuses_out_of_range_and_garbage_durations(
    cli: Cli, example_kb: Path, value: str
) -> None:
    result = cli("reap-stale-runs", f"--older-than={value}", "--dry-run", cwd=example_kb)
    assert_refused(result, 2, mentions="--older-than")
    assert not store_of(example_kb).exists()


def test_reap_takes_the_longest_duration(cli: Cli, example_kb: Path) -> None:
    result = cli("reap-stale-runs", "--older-than", "36500d", "--dry-run", cwd=example_kb)
    assert result.code == 0, result.err


def test_ids_beyond_64_bits_are_refused_as_real_processes(cli: Cli, example_kb: Path) -> None:
    created = cli("create-review-run", EX_NOTE, "clarity", "--runner", "x", *MODEL, cwd=example_kb)
    assert created.code == 0, created.err
    before = dump(store_of(example_kb))
    for value in (str(2**63), str(2**64), str(10**40), "-1", "0", "١٢", "1_0", "+3"):
        done = _script(example_kb, "finalize-review-run", "--review-run-id", value)
        _no_crash(done)
        assert done.returncode == 2, (value, done.stderr)
        assert "error: argument --review-run-id: expected a positive whole number" in done.stderr
    largest = _script(example_kb, "finalize-review-run", "--review-run-id", str(2**63 - 1))
    assert_refused(largest, 1, mentions="not found")
    assert dump(store_of(example_kb)) == before


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "-inf", "0", "1e3", "", "abc"])
def test_max_cost_usd_must_be_a_positive_amount(cli: Cli, example_kb: Path, value: str) -> None:
    result = cli(
        "review-sweep",
        "--runner",
        "stand-in",
        *MODEL,
        f"--max-cost-usd={value}",
        cwd=example_kb,
    )
    assert_refused(result, 2, mentions="--max-cost-usd")
    assert not store_of(example_kb).exists()


# --- output encodings --------------------------------------------------------------------


@pytest.fixture
def odd_names_kb(example_kb: Path) -> Path:
    """The example KB with notes whose names the C locale cannot print, one
    with a newline and one with a terminal escape sequence."""
    text = (example_kb / EX_NOTE).read_text(encoding="utf-8")
    for name in ("café-ünï.md", "bad\nname.md", "esc\x1b[31mred.md"):
        (example_kb / "kb" / "notes" / name).write_text(text, encoding="utf-8")
    commit_all(example_kb, "odd names")
    return example_kb


@pytest.mark.parametrize(
    "env",
    [{"PYTHONIOENCODING": "ascii"}, {"LC_ALL": "C", "LANG": "C", "PYTHONIOENCODING": ""}],
    ids=["ascii", "c-locale"],
)
def test_names_the_encoding_cannot_show_are_escaped_never_cut_short(
    odd_names_kb: Path, env: dict[str, str]
) -> None:
    done = _script(odd_names_kb, "review-target-selector", "clarity", *MODEL, **env)
    _no_crash(done)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    # Every note is listed on its own line and the summary line is there; the
    # names with a newline or an escape sequence are unreviewable, listed escaped.
    assert lines[-1].startswith("12 stale pair(s) in 6 note(s) of 6"), lines[-1]
    assert any("kb/notes/bad\\nname.md" in line for line in lines)
    assert any("kb/notes/esc\\x1b[31mred.md" in line for line in lines)
    assert "\x1b" not in done.stdout
    assert any(
        line.startswith("kb/notes/caf") and line.endswith("n\\xef.md") for line in lines
    ) or (
        "kb/notes/café-ünï.md" in lines  # an encoding that can show it (UTF-8 mode)
    )


def test_an_error_naming_an_unprintable_path_is_written_in_full(example_kb: Path) -> None:
    done = _script(
        example_kb,
        "review-target-selector",
        "--note",
        "kb/notes/café\nmissing.md",
        *MODEL,
        PYTHONIOENCODING="ascii",
    )
    _no_crash(done)
    line = assert_refused(done, 1, mentions="note not found")
    assert line == "error: note not found: 'kb/notes/caf\\xe9\\nmissing.md'"


def test_json_output_survives_an_ascii_stream(odd_names_kb: Path) -> None:
    done = _script(
        odd_names_kb,
        "review-target-selector",
        "clarity",
        *MODEL,
        "--json",
        PYTHONIOENCODING="ascii",
    )
    _no_crash(done)
    assert done.returncode == 0, done.stderr
    pairs = json.loads(done.stdout)
    assert {"kb/notes/café-ünï.md", "kb/notes/bad\nname.md"} <= {p["note_path"] for p in pairs}


# --- an explicit store that does not exist -----------------------------------------------

READ_COMMANDS: dict[str, tuple[str, ...]] = {
    "review-target-selector": ("clarity", *MODEL),
    "warn-selector": (),
    "review-report": ("--format", "json"),
    "review-store check": (),
    "review-store stats": (),
    "reap-stale-runs": ("--dry-run",),
    "ack-trivial-note-changes": (*MODEL, "--dry-run"),
    "repair-codex-model-partitions": ("--dry-run",),
}


@pytest.mark.parametrize("command", sorted(READ_COMMANDS))
@pytest.mark.parametrize("how", ["--db", "env"])
def test_read_paths_refuse_a_named_store_that_does_not_exist(
    cli: Cli,
    example_kb: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    command: str,
    how: str,
) -> None:
    missing = tmp_path / "typo" / "store.sqlite"
    name, *action = command.split()
    args = [*action, *READ_COMMANDS[command]]
    if how == "--db":
        args += ["--db", str(missing)]
    else:
        monkeypatch.setenv("COMMONPLACE_REVIEW_DB", str(missing))
    result = cli(name, *args, cwd=example_kb)
    line = assert_refused(result, 1, mentions=str(missing))
    assert ("--db" if how == "--db" else "COMMONPLACE_REVIEW_DB") in line
    assert not missing.parent.exists()
    assert not store_of(example_kb).exists()


def test_the_default_store_still_reads_as_empty_and_migrate_creates_a_named_one(
    cli: Cli, example_kb: Path, tmp_path: Path
) -> None:
    assert cli("review-target-selector", "clarity", *MODEL, cwd=example_kb).code == 0
    assert not store_of(example_kb).exists()
    named = tmp_path / "new.sqlite"
    assert cli("review-store", "migrate", "--db", str(named), cwd=example_kb).code == 0
    assert named.exists()
    assert cli("review-store", "check", "--db", str(named), cwd=example_kb).code == 0


# --- scan roots without notes ------------------------------------------------------------


def test_scan_roots_without_notes_are_an_error_that_names_them(cli: Cli, example_kb: Path) -> None:
    config = example_kb / "commonplace.toml"
    config.write_text('scan_roots = ["kb/notse"]\n' + config.read_text(encoding="utf-8"))
    for args in ((), ("--fail-on-stale",), ("--json",)):
        result = cli("review-target-selector", *MODEL, *args, cwd=example_kb)
        assert_refused(result, 1, mentions="kb/notse")
        if "--json" in args:
            assert cast(dict[str, Any], result.json())["exit_code"] == 1
        else:
            assert result.out == ""
    sweep = cli("review-sweep", "--runner", "stand-in", *MODEL, cwd=example_kb)
    assert_refused(sweep, 1, mentions="no reviewable notes")
    assert not store_of(example_kb).exists()


def test_fail_on_stale_never_passes_on_zero_notes(cli: Cli, example_kb: Path) -> None:
    for path in (example_kb / "kb" / "notes").rglob("*.md"):
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace("status: current", "status: draft"), encoding="utf-8")
    commit_all(example_kb, "nothing current")
    result = cli("review-target-selector", *MODEL, "--current", "--fail-on-stale", cwd=example_kb)
    assert_refused(result, 1, mentions="--fail-on-stale")
    assert "0 stale pair(s) in 0 note(s) of 0" in result.out
    plain = cli("review-target-selector", *MODEL, "--current", cwd=example_kb)
    assert plain.code == 0, plain.err


# --- [defaults] model --------------------------------------------------------------------


def test_the_selector_takes_the_model_from_defaults(cli: Cli, example_kb: Path) -> None:
    bare = cli("review-target-selector", "clarity", "--note", EX_NOTE, cwd=example_kb)
    assert_refused(bare, 2, mentions="--model")
    config = example_kb / "commonplace.toml"
    config.write_text(
        config.read_text(encoding="utf-8") + '\n[defaults]\nmodel = "demo"\neffort = "high"\n'
    )
    from_defaults = cli("review-target-selector", "clarity", "--note", EX_NOTE, cwd=example_kb)
    assert from_defaults.code == 0, from_defaults.err
    assert from_defaults.out.splitlines()[-1].endswith("for demo-reviewer-1-high")
    # An explicit --model does not inherit the default effort.
    named = cli(
        "review-target-selector", "clarity", "--note", EX_NOTE, "--model", "x", cwd=example_kb
    )
    assert named.out.splitlines()[-1].endswith("for x")


# --- --note before gate arguments --------------------------------------------------------


def _pairs(cli: Cli, kb: Path, *args: str) -> list[tuple[str, str]]:
    result = cli("review-target-selector", *args, *MODEL, "--json", cwd=kb)
    assert result.code == 0, result.err
    return [(p["note_path"], p["gate_id"]) for p in cast(list[dict[str, Any]], result.json())]


def test_note_no_longer_swallows_the_gates_that_follow(cli: Cli, example_kb: Path) -> None:
    expected = [(EX_NOTE, g) for g in EX_CLARITY]
    assert _pairs(cli, example_kb, "clarity", "--note", EX_NOTE) == expected
    assert _pairs(cli, example_kb, "--note", EX_NOTE, "clarity") == expected
    assert _pairs(cli, example_kb, "--note", EX_NOTE, *EX_CLARITY) == expected
    # Several notes, then a gate; gates on both sides of --note.
    two = _pairs(cli, example_kb, "--note", EX_NOTE, SEEDS, "clarity")
    assert two == [*expected, *[(SEEDS, g) for g in EX_CLARITY]]
    both = _pairs(cli, example_kb, "metadata", "--note", EX_NOTE, "clarity")
    assert {g for _, g in both} == {*EX_CLARITY, "metadata/tags-present"}
    # Old usage still works: every value a path, from the KB root or a folder.
    folder = _pairs(cli, example_kb, "clarity", "--note", EX_NOTE, "kb/notes/topics")
    assert len({n for n, _ in folder}) == 2
    # A value that is neither a note nor a gate is still reported as a missing note.
    typo = cli("review-target-selector", "--note", EX_NOTE, "proze", *MODEL, cwd=example_kb)
    assert_refused(typo, 1, mentions="note not found: proze")


def test_a_gate_sweep_takes_its_gate_after_the_notes(cli: Cli, example_kb: Path) -> None:
    result = cli(
        "run-gate-sweep",
        "--note",
        EX_NOTE,
        SEEDS,
        EX_CLARITY[0],
        "--runner",
        "stand-in",
        *MODEL,
        "--dry-run",
        "--json",
        cwd=example_kb,
    )
    assert result.code == 0, result.err
    payload = cast(dict[str, Any], result.json())
    assert [b["notes"] for b in payload["batches"]] == [[EX_NOTE, SEEDS]]
    assert not store_of(example_kb).exists()


# --- ingest: unknown result lines, repeated ingest, failed runs ----------------------------


def _prepare(cli: Cli, kb: Path) -> dict[str, Any]:
    result = cli(
        "prepare-review-batch",
        f"{EX_NOTE}::clarity",
        f"{SEEDS}::clarity",
        "--runner",
        "ext",
        *MODEL,
        "--json",
        cwd=kb,
    )
    assert result.code == 0, result.err
    return cast(dict[str, Any], result.json())


def _stand_in_output(kb: Path, prepared: dict[str, Any]) -> str:
    """What the example KB's stand-in reviewer writes for the batch's prompt."""
    return subprocess.run(
        [sys.executable, "tools/stand-in-reviewer.py"],
        input=(kb / prepared["prompt_path"]).read_text(encoding="utf-8"),
        cwd=kb,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def _without_first_result_line(output: str) -> str:
    lines = output.splitlines(keepends=True)
    first = next(i for i, line in enumerate(lines) if line.startswith("## Result:"))
    return "".join(lines[:first] + lines[first + 1 :])


def _without_block(output: str, note: str, gate: str) -> str:
    lines = output.splitlines(keepends=True)
    start = next(i for i, ln in enumerate(lines) if "START" in ln and note in ln and gate in ln)
    end = next(i for i, ln in enumerate(lines) if "END" in ln and note in ln and gate in ln)
    return "".join(lines[:start] + lines[end + 1 :])


def test_an_unreadable_result_line_is_reported_by_batch_ingest(
    cli: Cli, example_kb: Path, tmp_path: Path
) -> None:
    prepared = _prepare(cli, example_kb)
    output = tmp_path / "out.md"
    output.write_text(_without_first_result_line(_stand_in_output(example_kb, prepared)))
    batch = ("--batch-id", str(prepared["batch_id"]), "--input-file", str(output))
    first = cli("ingest-batch-output", *batch, cwd=example_kb)
    assert first.code == 0, first.err
    assert "1 pair(s) without a readable result line stay stale" in first.out
    warning = next(line for line in first.err.splitlines() if line.startswith("warning:"))
    assert f"{EX_NOTE} :: {EX_CLARITY[0]}" in warning and "unknown" in warning
    # The same file again: the runs are listed once, as already final, and the
    # unknown pair is still said, in JSON too.
    again = cli("ingest-batch-output", *batch, "--json", cwd=example_kb)
    assert again.code == 0, again.err
    payload = cast(dict[str, Any], again.json())
    run_ids = sorted(r["review_run_id"] for r in prepared["runs"])
    assert payload["completed"] == [] and payload["failed"] == []
    assert payload["already_final"] == run_ids
    assert payload["unknown"] == [
        {"review_run_id": run_ids[0], "note_path": EX_NOTE, "gate_id": EX_CLARITY[0]}
    ]
    assert "warning:" in again.err
    stale = cli("review-target-selector", "clarity", "--note", EX_NOTE, *MODEL, cwd=example_kb)
    assert f"  - {EX_CLARITY[0]} (missing-review)" in stale.out


def test_an_unreadable_result_line_is_reported_by_bundle_ingest_and_finalize(
    cli: Cli, example_kb: Path, tmp_path: Path
) -> None:
    prepared = _prepare(cli, example_kb)
    run_id = prepared["runs"][0]["review_run_id"]
    output = tmp_path / "out.md"
    output.write_text(_without_first_result_line(_stand_in_output(example_kb, prepared)))
    done = cli(
        "ingest-bundle-output",
        "--review-run-id",
        str(run_id),
        "--input-file",
        str(output),
        "--json",
        cwd=example_kb,
    )
    assert done.code == 0, done.err
    payload = cast(dict[str, Any], done.json())
    assert payload["accepted"] == 1
    assert payload["unknown"] == [{"note_path": EX_NOTE, "gate_id": EX_CLARITY[0]}]
    assert "warning:" in done.err and "stays stale" in done.err

    # The split path: a review written without a result line.
    created = cli(
        "create-review-run", SEEDS, "clarity", "--runner", "x", *MODEL, "--json", cwd=example_kb
    )
    split_id = str(cast(dict[str, Any], created.json())["review_run_id"])
    for gate, body in zip(
        EX_CLARITY, ("### Summary\nFine.\n", "### Summary\nFine.\n\n## Result: PASS\n"), strict=True
    ):
        wrote = cli(
            "write-gate-review",
            "--review-run-id",
            split_id,
            "--gate",
            gate,
            cwd=example_kb,
            stdin=body,
        )
        assert wrote.code == 0, wrote.err
        assert ("warning:" in wrote.err) == (gate == EX_CLARITY[0])
    final = cli("finalize-review-run", "--review-run-id", split_id, cwd=example_kb)
    assert final.code == 0, final.err
    assert "1 pair(s) accepted" in final.out
    assert f"no readable result line for {EX_CLARITY[0]}" in final.err


def test_a_failed_run_says_how_to_review_it_again(
    cli: Cli, example_kb: Path, tmp_path: Path
) -> None:
    prepared = _prepare(cli, example_kb)
    output = tmp_path / "out.md"
    output.write_text(_without_block(_stand_in_output(example_kb, prepared), SEEDS, EX_CLARITY[1]))
    batch = ("--batch-id", str(prepared["batch_id"]), "--input-file", str(output))
    first = cli("ingest-batch-output", *batch, cwd=example_kb)
    failed_id = prepared["runs"][1]["review_run_id"]
    line = assert_refused(first, 1, mentions=f"review run {failed_id} failed: missing pair reviews")
    assert EX_CLARITY[1] in line
    hints = [h for h in first.err.splitlines() if h.startswith("hint: ")]
    assert hints and f"commonplace-create-review-run {SEEDS} {' '.join(EX_CLARITY)}" in hints[0]
    assert first.out.splitlines()[0].endswith("1 completed, 1 failed")
    # Ingesting again changes nothing, lists each run once and still fails.
    again = cli("ingest-batch-output", *batch, "--json", cwd=example_kb)
    payload = cast(dict[str, Any], again.json())
    assert payload["completed"] == [] and payload["failed"] == []
    assert len(payload["already_final"]) == 2
    assert_refused(again, 1, mentions=f"review run {failed_id} had already failed")
    assert "hint: " in again.err
    status = one(store_of(example_kb), "SELECT status FROM review_runs WHERE id = ?", (failed_id,))
    assert status == "failed"


def test_a_sweep_reports_unreadable_result_lines_in_text_and_json(
    cli: Cli, example_kb: Path
) -> None:
    # A reviewer that drops its first result line: the stand-in, filtered.
    (example_kb / "tools" / "no-result.py").write_text(
        "import subprocess, sys\n"
        "out = subprocess.run([sys.executable, 'tools/stand-in-reviewer.py'],"
        " input=sys.stdin.read(), capture_output=True, text=True, check=True).stdout\n"
        "sys.stdout.write(out.replace('## Result: PASS\\n', '', 1))\n",
        encoding="utf-8",
    )
    config = example_kb / "commonplace.toml"
    config.write_text(
        config.read_text(encoding="utf-8")
        + '\n[runners.no-result]\ncommand = ["python3", "tools/no-result.py"]\n'
    )
    args = ("clarity", "--note", EX_NOTE, "--runner", "no-result", *MODEL)
    done = cli("review-sweep", *args, "--json", cwd=example_kb)
    assert done.code == 0, done.err
    (batch,) = cast(dict[str, Any], done.json())["batches"]
    assert any(f"{EX_NOTE} :: {EX_CLARITY[0]}" in w for w in batch["warnings"])
    assert f"warning: review run {batch['completed'][0]}: no readable result line" in done.err
    again = cli("review-target-selector", "clarity", "--note", EX_NOTE, *MODEL, cwd=example_kb)
    assert f"  - {EX_CLARITY[0]} (missing-review)" in again.out
