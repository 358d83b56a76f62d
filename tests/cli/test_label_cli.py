"""`commonplace label NOTE GATE --decision D [--why T] [--model M] [--accept]`:
the command's JSON and text, refusals as `error:` with exit 1 and no
traceback, labels in `show`, the verb of the umbrella command, and `check`
catching a label whose override does not match it."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.cli import DEMO_MODEL, EX_CLARITY, EX_NOTE, Cli, assert_refused, complete_run
from helpers.commands import run_script
from helpers.db import execute_sql, rows, store_of

pytestmark = pytest.mark.both_backends

GATE = EX_CLARITY[1]


def test_label_accept_show_and_check(cli: Cli, example_kb: Path) -> None:
    kb = example_kb
    complete_run(cli, kb, EX_NOTE, "clarity", decisions=("PASS", "WARN"))
    done = cli(
        "label", EX_NOTE, GATE, "--decision", "pass", "--why", "defined inline",
        "--model", DEMO_MODEL, "--accept", "--json", cwd=kb,
    )  # fmt: skip
    assert done.code == 0, done.err
    payload = done.json()
    assert (payload["decision"], payload["model_id"]) == ("pass", DEMO_MODEL)
    assert payload["labeller"]  # git's identity in the test KB, else $USER
    assert isinstance(payload["acceptance_event_id"], int)
    fixes = cli("warn-selector", "--json", cwd=kb)
    assert fixes.code == 0 and GATE not in fixes.out  # the person said pass
    stale = cli("review-target-selector", "--note", EX_NOTE, "--all-gates", "--model", DEMO_MODEL,
                "--json", cwd=kb)  # fmt: skip
    assert stale.code == 0 and GATE not in stale.out  # the override is honoured
    report = cli("review-report", "--format", "json", "--model", DEMO_MODEL, cwd=kb)
    assert report.code == 0, report.err
    [health] = [g for g in report.json()["gate_health"] if g["gate_id"] == GATE]
    [disagreement] = health["label_disagreements"]
    assert (disagreement["note_path"], disagreement["model_id"]) == (EX_NOTE, DEMO_MODEL)
    assert (disagreement["label"], disagreement["model"]) == ("pass", "warn")
    html = cli("review-report", "--format", "html", "--model", DEMO_MODEL, cwd=kb)
    assert html.code == 0 and "people disagree" in html.out.lower()

    shown = cli("show", EX_NOTE, cwd=kb)
    assert shown.code == 0, shown.err
    assert f"{GATE} pass by" in shown.out and "(accepted): defined inline" in shown.out
    hostile = cli("label", EX_NOTE, GATE, "--decision", "warn", "--by", "x\u202ey", cwd=kb)
    assert_refused(hostile, 1, mentions="--by holds control characters")

    checked = cli("review-store", "check", "--json", cwd=kb)
    assert checked.code == 0, checked.out
    store = store_of(kb)
    with pytest.raises(Exception, match="labels is append-only"):
        execute_sql(store, "UPDATE labels SET acceptance_id = NULL")
    # behind the library's back: a label claiming the full-review acceptance
    # of another gate as its override
    [(review_event,)] = rows(
        store,
        "SELECT id FROM acceptance_events WHERE acceptance_kind = 'full-review' AND gate_id = ?",
        (EX_CLARITY[0],),
    )
    execute_sql(
        store,
        "INSERT INTO labels (uid, note_path, gate_id, note_sha, gate_sha, decision, why,"
        " model_id, labeller, created_at, acceptance_id) SELECT"
        f" '{'a' * 32}', note_path, gate_id, note_sha, gate_sha, 'fail', why, model_id,"
        f" labeller, created_at, {review_event} FROM labels",
    )
    broken = cli("review-store", "check", "--json", cwd=kb)
    assert broken.code == 1
    assert "does not match the manual-override acceptance" in broken.out
    stats = cli("review-store", "stats", "--json", cwd=kb)
    assert stats.json()["labels"] == {"fail": 1, "pass": 1}


@pytest.mark.parametrize(
    ("args", "mentions"),
    [
        (("--decision", "pass", "--accept"), "--accept needs --model"),
        (("--decision", "pass", "--why", "a\x1b]0;x\x07b"), "control characters"),
        (("--decision", "pass", "--why", "w" * 5000), "at most 4000"),
    ],
)
def test_refusals_are_errors(
    cli: Cli, example_kb: Path, args: tuple[str, ...], mentions: str
) -> None:
    result = cli("label", EX_NOTE, GATE, *args, cwd=example_kb)
    assert_refused(result, 1, mentions=mentions)


def test_the_umbrella_verb(example_kb: Path) -> None:
    done = run_script(
        "commonplace", ["label", EX_NOTE, GATE, "--decision", "fail", "--by", "Bo"], cwd=example_kb
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"labelled: {EX_NOTE} {GATE} fail"
    bad = run_script("commonplace", ["label", EX_NOTE, GATE, "--decision", "nope"], cwd=example_kb)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
