"""One logical review, three media: the split gate-by-gate path, the live-agent
path and the external batch path must leave the same rows (SPEC 0, 14), each
path in its own store, ignoring ids, timestamps and runner labels."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import pytest
from helpers.cli import CLAIM_NOTE, EX_CLAIM_NOTE, Cli
from helpers.db import columns, rows
from helpers.real_cli import RUNNERS, command_env, require_cli, run_command
from helpers.vendor_api import Answerer, VendorAPI, review_block

from commonplace.protocol.grammar import Pair, block
from commonplace.protocol.prompt import prompt_token, requested_pairs
from commonplace.store.packing import unpack

pytestmark = pytest.mark.both_backends

MODEL = "claude-opus-4-6"

# One text per gate, in the run's gate order: every decision form, findings,
# a tolerated result line, and no result line at all.
TEXTS = (
    "### Summary\nThe title generalises from one season.\n\n### Findings\n"
    "- WARN: 'always' in the second paragraph rests on one packet\n"
    "- INFO: the sowing table is fine\n\n### Suggested Revision\n"
    "Say 'this packet' instead of 'packets'.\n\n## Result: WARN\n",
    "### Summary\nThe title names a topic.\n\n### Findings\n- FAIL: the title is a label\n\n"
    "**Result:** fail (the title is a label)\n",
    "### Summary\nNothing to report.\n\n### Findings\n- none\n\n## Result: PASS\n",
    "### Summary\nI could not decide whether the abbreviation is common knowledge.\n",
    "### Summary\nThe gate text was ambiguous.\n\n## Result: ERROR\n",
)

DECISIONS = ("warn", "fail", "pass", "unknown", "error")

# The rows a review leaves, without ids, timestamps or runner labels.
COMPARED = {
    "review_runs": "SELECT note_path, model_id, reviewed_note_sha, reviewed_note_commit, status,"
    " failure_reason, rekeyed_from FROM review_runs",
    "review_run_gates": "SELECT gate_id, gate_sha, ordinal FROM review_run_gates",
    "gate_reviews": "SELECT note_path, gate_id, model_id, decision, rationale_markdown,"
    " findings_json, gate_sha, reviewed_note_sha, reviewed_note_commit, review_kind"
    " FROM gate_reviews",
    "acceptance_events": "SELECT e.note_path, e.gate_id, e.model_id, e.accepted_note_sha,"
    " e.accepted_note_commit, e.accepted_gate_sha, e.acceptance_kind, r.gate_id"
    " FROM acceptance_events e JOIN gate_reviews r ON r.id = e.accepted_review_id",
    "snapshots": "SELECT sha, text FROM snapshots",
}


def logical_rows(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    return {table: sorted(rows(db, sql), key=repr) for table, sql in COMPARED.items()}


def create(cli: Cli, kb: Path, db: Path, note: str, gates: Sequence[str], *extra: str) -> Any:
    result = cli(
        "create-review-run",
        note,
        *gates,
        *("--runner", "live-agent", "--model", MODEL, "--db", str(db), "--json", *extra),
        cwd=kb,
    )
    assert result.code == 0, result.err
    return result.json()


def split_path(
    cli: Cli, kb: Path, db: Path, note: str, gates: Sequence[str], texts: Sequence[str] = TEXTS
) -> None:
    created = create(cli, kb, db, note, gates)
    run_id = str(created["review_run_id"])
    for gate, text in zip(created["gate_ids"], texts, strict=True):
        written = cli(
            "write-gate-review",
            *("--review-run-id", run_id, "--gate", gate, "--db", str(db)),
            cwd=kb,
            stdin=text,
        )
        assert written.code == 0, written.err
    done = cli("finalize-review-run", "--review-run-id", run_id, "--db", str(db), cwd=kb)
    assert done.code == 0, done.err


def output_for(
    kb: Path, prompt_path: str, gate_ids: Sequence[str], texts: Sequence[str] = TEXTS
) -> str:
    """The blocks a reviewer writes for the prompt's pairs, one text per gate."""
    text_of = dict(zip(gate_ids, texts, strict=True))
    prompt = (kb / prompt_path).read_text(encoding="utf-8")
    pairs, token = requested_pairs(prompt), prompt_token(prompt)
    assert sorted(p.gate_id for p in pairs) == sorted(gate_ids)
    return "\n".join(
        block(Pair(p.note_path, p.gate_id), text_of[p.gate_id], token=token) for p in pairs
    )


def live_agent_path(cli: Cli, kb: Path, db: Path, note: str, gates: Sequence[str]) -> None:
    created = create(cli, kb, db, note, gates, "--with-prompt")
    output = kb / created["bundle_output_path"]
    output.write_text(output_for(kb, created["prompt_path"], created["gate_ids"]))
    done = cli(
        "ingest-bundle-output",
        *("--review-run-id", str(created["review_run_id"]), "--input-file", str(output)),
        *("--db", str(db)),
        cwd=kb,
    )
    assert done.code == 0, done.err


def batch_path(
    cli: Cli,
    kb: Path,
    db: Path,
    note: str,
    gates: Sequence[str],
    texts: Sequence[str] = TEXTS,
    newline: str = "\n",
) -> None:
    prepared = cli(
        "prepare-review-batch",
        *(f"{note}::{gate}" for gate in gates),
        *("--runner", "claude-workflow", "--model", MODEL, "--db", str(db), "--json"),
        cwd=kb,
    )
    assert prepared.code == 0, prepared.err
    batch = cast(dict[str, Any], prepared.json())
    (run,) = batch["runs"]
    output = kb / batch["bundle_output_path"]
    document = output_for(kb, batch["prompt_path"], run["gate_ids"], texts)
    output.write_bytes(document.replace("\n", newline).encode("utf-8"))
    done = cli(
        "ingest-batch-output",
        *("--batch-id", str(batch["batch_id"]), "--input-file", str(output), "--db", str(db)),
        cwd=kb,
    )
    assert done.code == 0, done.err


PATHS = {"split": split_path, "live-agent": live_agent_path, "batch": batch_path}

# kb fixture -> (note, its five applicable gates in lens order)
REVIEWS = {
    "example_kb": (
        EX_CLAIM_NOTE,
        (
            "claims/overreaching-generalization",
            "claims/title-states-a-claim",
            "clarity/description-repeats-title",
            "clarity/undefined-abbreviation",
            "metadata/tags-present",
        ),
    ),
    "corpus_kb": (
        CLAIM_NOTE,
        (
            "frontmatter/claim-strength",
            "frontmatter/description-discrimination",
            "frontmatter/title-as-claim",
            "frontmatter/title-body-alignment",
            "frontmatter/title-composability",
        ),
    ),
}


@pytest.mark.parametrize("kb_fixture", list(REVIEWS))
def test_every_path_leaves_the_same_rows(
    cli, request: pytest.FixtureRequest, new_db: Callable[[str], Path], kb_fixture: str
) -> None:
    kb = cast(Path, request.getfixturevalue(kb_fixture))
    note, gates = REVIEWS[kb_fixture]
    found = {}
    for name, path in PATHS.items():
        db = new_db(name)
        path(cli, kb, db, note, gates)
        found[name] = logical_rows(db)
    split = found["split"]
    assert sorted((r[1], r[3]) for r in split["gate_reviews"]) == sorted(
        zip(gates, DECISIONS, strict=True)
    )
    assert sorted(r[1] for r in split["acceptance_events"]) == sorted(gates[:3])
    assert [r[4] for r in split["review_runs"]] == ["completed"]
    assert found["live-agent"] == split
    assert found["batch"] == split


# --- the same text, written differently ---------------------------------------------------


def rationales(db: Path) -> list[tuple[str, str, str]]:
    return rows(db, "SELECT decision, rationale_markdown, findings_json FROM gate_reviews")


@pytest.mark.parametrize(
    "newline",
    ["\n", "\r\n"],
    ids=["lf", "crlf"],
)
def test_line_ends_do_not_change_the_stored_review(
    cli, example_kb: Path, new_db: Callable[[str], Path], newline: str
) -> None:
    """A review written on a CRLF system (a file for write-gate-review, the
    output document for the batch) is the same logical review."""
    gates = ["metadata/tags-present"]
    text = TEXTS[0].replace("\n", newline)
    split_db, batch_db = new_db("split"), new_db("batch")
    split_path(cli, example_kb, split_db, EX_CLAIM_NOTE, gates, texts=[text])
    batch_path(cli, example_kb, batch_db, EX_CLAIM_NOTE, gates, TEXTS[:1], newline=newline)
    assert rationales(batch_db)[0][:2] == ("warn", TEXTS[0])
    assert rationales(split_db) == rationales(batch_db)


def test_leading_blank_lines_do_not_change_the_stored_review(
    cli, example_kb: Path, new_db: Callable[[str], Path]
) -> None:
    gates = ["metadata/tags-present"]
    text = "\n\n" + TEXTS[2]
    split_db, batch_db = new_db("split"), new_db("batch")
    split_path(cli, example_kb, split_db, EX_CLAIM_NOTE, gates, texts=[text])
    batch_path(cli, example_kb, batch_db, EX_CLAIM_NOTE, gates, texts=[text])
    assert rationales(split_db) == rationales(batch_db)


# --- the runner path: a real harness CLI against the loopback vendor API ---------------------
#
# The server answers every requested pair with `vendor_api.review_block(pair,
# decision)`; the split, live-agent and batch paths below write exactly those
# texts, so the four paths carry the same logical review. Every path uses the
# same --model, so model_id must match too (the served model is the requested
# one: nothing is rekeyed).

# runner -> the model every path names
RUNNER_MODELS = {"claude-code": MODEL, "codex": "gpt-5.5"}
# gate -> the decision the server (and so every path) gives
RUNNER_DECISIONS = {
    "claims/overreaching-generalization": "WARN",
    "claims/title-states-a-claim": "FAIL",
}
# Columns that differ by design between media: ids and the ids that point at
# rows (replaced by what they point at), times, the runner label, what the
# execution left (telemetry, debug log) and who executed it (host, pid, process
# start and lease are set only while a subprocess owns the run).
NOT_COMPARED = {
    "review_runs": {
        "id",
        "batch_id",
        "runner",
        "started_at",
        "completed_at",
        "telemetry_json",
        "debug_log",
        "host",
        "pid",
        "uid",
        "owner_started_at",
        "lease_expires_at",
    },
    "review_run_gates": {"review_run_id"},
    "gate_reviews": {"id", "uid", "review_run_id", "reviewed_at"},
    "acceptance_events": {"id", "uid", "accepted_review_id", "accepted_at"},
    "snapshots": set(),
}


def rows_by_column(db: Path) -> dict[str, list[dict[str, Any]]]:
    """Every row of the tables a review writes, as {column: value}, without the
    columns of NOT_COMPARED; an acceptance event names the gate and note of the
    review it accepts instead of its id, and a run's document shows its
    batch's token as `<token>`."""
    found: dict[str, list[dict[str, Any]]] = {}
    for table, skipped in NOT_COMPARED.items():
        names = [c for c in columns(db, table) if c not in skipped]
        select = ", ".join(f"t.{c}" for c in names)
        sql = f"SELECT {select} FROM {table} t"
        if table == "acceptance_events":
            names += ["accepted_review_note", "accepted_review_gate"]
            sql = (
                f"SELECT {select}, r.note_path, r.gate_id FROM {table} t"
                " JOIN gate_reviews r ON r.id = t.accepted_review_id"
            )
        found[table] = sorted(
            (dict(zip(names, row, strict=True)) for row in rows(db, sql)), key=repr
        )
    for run in found["review_runs"]:  # compressed or not, the same text
        run["raw_bundle_markdown"] = unpack(
            run["raw_bundle_markdown"], run.pop("raw_bundle_markdown_z")
        )
    # a run's document carries its batch's boundary token, random per batch
    tokens = [t for (t,) in rows(db, "SELECT boundary_token FROM review_batches") if t]
    for run in found["review_runs"]:
        for token in tokens:
            if run["raw_bundle_markdown"]:
                run["raw_bundle_markdown"] = run["raw_bundle_markdown"].replace(token, "<token>")
    return found


def server_document(pairs: Sequence[str], token: str) -> str:
    """What the vendor API answers to a prompt requesting `pairs` (its token)."""
    return Answerer(decisions=RUNNER_DECISIONS).review(pairs, token)


def prompt_pairs(kb: Path, prompt_path: str) -> list[str]:
    text = (kb / prompt_path).read_text(encoding="utf-8")
    return [f"{p.note_path} :: {p.gate_id}" for p in requested_pairs(text)]


def server_split_path(
    cli: Cli, kb: Path, db: Path, note: str, gates: Sequence[str], model: str
) -> None:
    created = create(cli, kb, db, note, gates, "--model", model)
    run_id = str(created["review_run_id"])
    for gate in created["gate_ids"]:
        pair = f"{note} :: {gate}"
        # The body of the server's block: the lines between its sentinels.
        body = "".join(
            review_block(pair, RUNNER_DECISIONS.get(gate, "PASS")).splitlines(True)[1:-1]
        )
        written = cli(
            "write-gate-review",
            *("--review-run-id", run_id, "--gate", gate, "--db", str(db)),
            cwd=kb,
            stdin=body,
        )
        assert written.code == 0, written.err
    done = cli("finalize-review-run", "--review-run-id", run_id, "--db", str(db), cwd=kb)
    assert done.code == 0, done.err


def server_live_agent_path(
    cli: Cli, kb: Path, db: Path, note: str, gates: Sequence[str], model: str
) -> None:
    created = create(cli, kb, db, note, gates, "--with-prompt", "--model", model)
    output = kb / created["bundle_output_path"]
    pairs = prompt_pairs(kb, created["prompt_path"])
    output.write_text(server_document(pairs, created["boundary_token"]))
    done = cli(
        "ingest-bundle-output",
        *("--review-run-id", str(created["review_run_id"]), "--input-file", str(output)),
        *("--db", str(db)),
        cwd=kb,
    )
    assert done.code == 0, done.err


def server_batch_path(
    cli: Cli, kb: Path, db: Path, note: str, gates: Sequence[str], model: str
) -> None:
    prepared = cli(
        "prepare-review-batch",
        *(f"{note}::{gate}" for gate in gates),
        *("--runner", "claude-workflow", "--model", model, "--db", str(db), "--json"),
        cwd=kb,
    )
    assert prepared.code == 0, prepared.err
    batch = cast(dict[str, Any], prepared.json())
    output = kb / batch["bundle_output_path"]
    pairs = prompt_pairs(kb, batch["prompt_path"])
    output.write_text(server_document(pairs, batch["boundary_token"]))
    done = cli(
        "ingest-batch-output",
        *("--batch-id", str(batch["batch_id"]), "--input-file", str(output), "--db", str(db)),
        cwd=kb,
    )
    assert done.code == 0, done.err


def runner_path(
    runner: str,
    cli_path: str,
    tmp_path: Path,
    kb: Path,
    db: Path,
    note: str,
    gates: Sequence[str],
    model: str,
) -> None:
    with VendorAPI(decisions=RUNNER_DECISIONS) as api:
        env = command_env(runner, api, tmp_path / f"{runner}-home", cli_path)
        if "PGPASSWORD" in os.environ:  # a PostgreSQL store, as a user's libpq set-up gives it
            env["PGPASSWORD"] = os.environ["PGPASSWORD"]
        done = run_command(
            "run-review-bundle",
            *(note, *gates, "--runner", runner, "--model", model),
            *("--timeout", "60", "--quiet", "--json", "--db", str(db)),
            cwd=kb,
            env=env,
        )
        assert done.code == 0, done.err
        (request,) = api.review_requests()
        assert request.requested_pairs == [f"{note} :: {gate}" for gate in gates]


@pytest.mark.real_cli
@pytest.mark.parametrize("runner", list(RUNNER_MODELS))
def test_a_runner_leaves_the_same_rows_as_the_other_paths(
    cli, example_kb: Path, tmp_path: Path, new_db: Callable[[str], Path], runner: str
) -> None:
    cli_path = require_cli(RUNNERS[runner][0])
    model = RUNNER_MODELS[runner]
    note, gates = REVIEWS["example_kb"]
    stores = {name: new_db(name) for name in PATHS}
    server_split_path(cli, example_kb, stores["split"], note, gates, model)
    server_live_agent_path(cli, example_kb, stores["live-agent"], note, gates, model)
    server_batch_path(cli, example_kb, stores["batch"], note, gates, model)
    runner_db = new_db("runner")
    runner_path(runner, cli_path, tmp_path, example_kb, runner_db, note, gates, model)

    found = rows_by_column(runner_db)
    partition = "claude-opus-4-6" if runner == "claude-code" else "gpt-5-5"
    assert [(r["status"], r["model_id"], r["rekeyed_from"]) for r in found["review_runs"]] == [
        ("completed", partition, None)
    ]
    assert found["review_runs"][0]["raw_bundle_markdown"].startswith("# Review bundle\n")
    assert sorted((r["gate_id"], r["decision"]) for r in found["gate_reviews"]) == sorted(
        (gate, RUNNER_DECISIONS.get(gate, "PASS").lower()) for gate in gates
    )
    assert len(found["acceptance_events"]) == len(gates)
    for name, db in stores.items():
        other = rows_by_column(db)
        for table, expected in found.items():
            assert other[table] == expected, (name, table)
