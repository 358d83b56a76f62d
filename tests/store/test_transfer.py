"""Moving and merging review history (`review-store export` / `import`) with
real stores: a reviewed corpus moved from SQLite into SQLite or PostgreSQL,
two laptops merged into one server, rows that changed since a dump."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers.cli import CLAIM_NOTE, PLAIN_NOTE, append, commit_paths, stale_pairs
from helpers.commands import Result
from helpers.db import execute_sql, rows, store_of
from helpers.kb import CORPUS, make_git_kb, require_shared
from helpers.reviewed_corpus import FOLDER_NOTE, LOOP_NOTE, MODEL, SCENARIO, review_pairs
from helpers.transfer import (
    added,
    end_counts,
    export_text,
    import_text,
    open_store,
    rows_of,
    violations,
)

from commonplace.errors import UserError
from commonplace.git import blob_sha
from commonplace.services.dump_format import SPEC
from commonplace.services.transfer import export_lines
from commonplace.store import provider_jobs
from commonplace.store.aliases import add_resolution
from commonplace.store.dump import COLUMNS
from commonplace.store.snapshots import add_snapshots

# It sets up its own PostgreSQL stores: not run again per test backend.
pytestmark = pytest.mark.one_backend


Cli = Callable[..., Result]
ALL = ("--all-gates", "--model", MODEL)


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty store to import into: a SQLite file, or a schema on the test server."""
    if request.param == "sqlite":
        return str(tmp_path / "server" / "store.sqlite")
    url, schema = request.getfixturevalue("postgres_schema")
    return f"{url}?schema={schema}"


def selector(cli: Cli, kb: Path, db: str | Path) -> list[tuple[str, str, str]]:
    return sorted(stale_pairs(cli, kb, *ALL, "--db", str(db)))


def rich_history(cli: Cli, kb: Path) -> Path:
    """The corpus's store after reviews, a note changed, an ack, a relocation,
    a failed run and an alias resolution: every table has rows."""
    review_pairs(cli, kb, SCENARIO)
    append(kb, CLAIM_NOTE, "\nA sentence added later.\n")
    append(kb, PLAIN_NOTE, "\n")
    commit_paths(kb, CLAIM_NOTE, PLAIN_NOTE)
    gate = "frontmatter/description-discrimination"
    acked = cli("ack-gate-review", PLAIN_NOTE, gate, "--model", MODEL, cwd=kb)
    assert acked.code == 0, acked.err
    for extra in ((), ("--model", MODEL, "--accept")):
        labelled = cli(
            "label", FOLDER_NOTE if not extra else PLAIN_NOTE, gate, "--decision", "fail",
            "--why", "ünïcode\nwhy", "--by", "Ann", *extra, cwd=kb,
        )  # fmt: skip
        assert labelled.code == 0, labelled.err
    moved = cli("relocate-note", FOLDER_NOTE, "kb/notes/moved-note.md", cwd=kb)
    assert moved.code == 0, moved.err
    created = cli(
        "create-review-run", LOOP_NOTE, "prose/source-residue", "--runner", "live-agent",
        "--model", MODEL, cwd=kb,
    )  # fmt: skip
    assert created.code == 0, created.err
    reaped = cli("reap-stale-runs", "--older-than", "0s", cwd=kb)
    assert reaped.code == 0, reaped.err
    with open_store(store_of(kb)) as store, store.write() as conn:
        add_resolution(
            conn, requested_model="opus", requested_effort=None, resolved_model=MODEL,
            resolved_model_id=MODEL, observed_at="2026-01-01T00:00:00.000Z", batch_id=1,
        )  # fmt: skip
        # batch 1 as if it had gone through a provider batch job, collected since
        job = provider_jobs.add_job(
            conn, provider="anthropic-api", job_id="msgbatch_01", status="ended",
            submitted_at="2026-01-01T00:00:00.000Z", deliver_until="2026-01-02T00:00:00.000Z",
            detail=None,
        )  # fmt: skip
        provider_jobs.attach_batches(conn, job, [(1, "batch-1")])
        provider_jobs.end_job(conn, job, "ended", "2026-01-01T01:00:00.000Z")
    return store_of(kb)


def test_the_columns_of_the_format_are_the_store_layers() -> None:
    assert {table: tuple(columns) for table, columns in SPEC.items()} == COLUMNS


def test_a_corpus_history_moves_whole_and_the_selector_agrees(
    cli: Cli, corpus_kb: Path, target: str, tmp_path: Path
) -> None:
    source = rich_history(cli, corpus_kb)
    dumped = export_text(source)
    counts = end_counts(dumped)
    assert all(counts.values()), counts  # every table took part
    assert export_text(source) == dumped  # deterministic

    first = import_text(target, dumped)
    assert added(first) == counts
    assert violations(target) == ()
    assert selector(cli, corpus_kb, target) == selector(cli, corpus_kb, source)
    assert selector(cli, corpus_kb, source)  # the changed note is stale: not a vacuous match
    warn = cli("warn-selector", "--json", "--db", target, cwd=corpus_kb)
    assert warn.out == cli("warn-selector", "--json", "--db", str(source), cwd=corpus_kb).out

    again = import_text(target, dumped)
    assert added(again) == {}
    assert {n: t.already_present for n, t in again.tables.items()} == counts
    assert export_text(target) == dumped  # the same rows, uids and references

    # and back into SQLite: the round trip gives the same dump again
    back = tmp_path / "back.sqlite"
    import_text(back, export_text(target))
    assert export_text(back) == dumped


def test_a_dump_made_before_provider_jobs_still_imports(
    cli: Cli, corpus_kb: Path, target: str
) -> None:
    """A schema-5 dump has no provider_jobs table and no job columns on its
    batches: it reads as a history without jobs."""
    source = rich_history(cli, corpus_kb)
    lines = [json.loads(line) for line in export_text(source).splitlines()]
    old = []
    for document in lines:
        if "format" in document:
            document["schema_version"] = 5
        elif "end" in document:
            del document["end"]["provider_jobs"], document["end"]["labels"]
        elif document["table"] in ("provider_jobs", "labels"):
            continue
        elif document["table"] == "review_batches":
            del document["row"]["provider_job_uid"], document["row"]["provider_custom_id"]
        old.append(json.dumps(document) + "\n")
    summary = import_text(target, "".join(old))
    assert summary.tables["provider_jobs"].added == 0
    assert (
        summary.tables["review_batches"].added == end_counts(export_text(source))["review_batches"]
    )
    assert violations(target) == ()
    assert selector(cli, corpus_kb, target) == selector(cli, corpus_kb, source)
    # a job row in a dump that says it predates jobs is refused
    forged = [*old[:1], '{"table":"provider_jobs","row":{}}\n', *old[1:]]
    with pytest.raises(UserError, match="provider_jobs rows in a dump of schema 5"):
        import_text(target, "".join(forged))


def test_two_laptops_merge_into_one_server(
    cli: Cli, corpus_kb: Path, target: str, tmp_path: Path
) -> None:
    laptop_b = make_git_kb(require_shared(CORPUS), tmp_path / "laptop-b")
    overlap = (LOOP_NOTE, "sentence/stock-phrases")
    plan_a = {k: v for k, v in SCENARIO.items() if k[0] == CLAIM_NOTE or k == overlap}
    plan_b = {k: v for k, v in SCENARIO.items() if k[0] != CLAIM_NOTE}
    review_pairs(cli, corpus_kb, plan_a)
    review_pairs(cli, laptop_b, plan_b)
    dump_a, dump_b = export_text(store_of(corpus_kb)), export_text(store_of(laptop_b))

    import_text(target, dump_a)
    import_text(target, dump_b)

    assert violations(target) == ()
    merged = export_text(target)
    a, b, union = end_counts(dump_a), end_counts(dump_b), end_counts(merged)
    shas = {r["sha"] for d in (dump_a, dump_b) for r in rows_of(d, "snapshots")}
    assert union == {t: len(shas) if t == "snapshots" else a[t] + b[t] for t in a}
    uids = {r["uid"] for d in (dump_a, dump_b) for r in rows_of(d, "review_runs")}
    assert {r["uid"] for r in rows_of(merged, "review_runs")} == uids
    # the local ids were remapped: laptop B's runs 1.. follow laptop A's
    b_runs = [r["uid"] for r in rows_of(dump_b, "review_runs")]
    with open_store(target) as store, store.read() as conn:
        ids = dict(conn.execute("SELECT uid, id FROM review_runs").fetchall())
    assert sorted(ids[uid] for uid in b_runs) == list(range(a["review_runs"] + 1, len(uids) + 1))
    # the pair both reviewed: both acceptances kept, the one imported last is current
    with open_store(target) as store, store.read() as conn:
        found = conn.execute(
            "SELECT e.uid, e.id = c.id FROM acceptance_events e JOIN current_gate_acceptances c"
            " ON c.note_path = e.note_path AND c.gate_id = e.gate_id AND c.model_id = e.model_id"
            " WHERE e.note_path = ? AND e.gate_id = ? ORDER BY e.id",
            overlap,
        ).fetchall()
    events_b = {
        r["uid"] for r in rows_of(dump_b, "acceptance_events") if r["note_path"] == LOOP_NOTE
    }
    assert [bool(f[1]) for f in found] == [False, True] and found[1][0] in events_b
    # a pair reviewed on either laptop is fresh on the server
    stale_a = set(selector(cli, corpus_kb, store_of(corpus_kb)))
    stale_b = set(selector(cli, laptop_b, store_of(laptop_b)))
    assert set(selector(cli, corpus_kb, target)) == stale_a & stale_b
    assert stale_a - stale_b and stale_b - stale_a  # each laptop brought pairs of its own
    # merging again, in either order, adds nothing
    assert added(import_text(target, dump_b)) == added(import_text(target, dump_a)) == {}
    assert export_text(target) == merged


def test_a_run_finished_since_the_dump_is_kept_as_the_store_has_it(
    cli: Cli, corpus_kb: Path, target: str
) -> None:
    """A uid already there with other content is kept, counted as differing,
    and the new rows resting on it (the run's reviews, their acceptances)
    are left out: a run still running here must not gain reviews."""
    pair = {(PLAIN_NOTE, "frontmatter/description-discrimination"): ("PASS", ())}
    review_pairs(cli, corpus_kb, pair)
    created = cli(
        "create-review-run", LOOP_NOTE, "sentence/stock-phrases", "--runner", "live-agent",
        "--model", MODEL, "--json", cwd=corpus_kb,
    )  # fmt: skip
    run_id = created.json()["review_run_id"]  # type: ignore[index]
    older = export_text(store_of(corpus_kb))
    written = cli(
        "write-gate-review", "--review-run-id", str(run_id), "--gate", "sentence/stock-phrases",
        cwd=corpus_kb, stdin="### Summary\nFine.\n\n## Result: PASS\n",
    )  # fmt: skip
    assert written.code == 0, written.err
    assert cli("finalize-review-run", "--review-run-id", str(run_id), cwd=corpus_kb).code == 0
    newer = export_text(store_of(corpus_kb))

    import_text(target, older)
    summary = import_text(target, newer)

    tables = summary.tables
    assert (tables["review_runs"].differing, tables["review_runs"].added) == (1, 0)
    assert (tables["gate_reviews"].skipped, tables["gate_reviews"].added) == (1, 0)
    assert (tables["acceptance_events"].skipped, tables["acceptance_events"].added) == (1, 0)
    assert tables["review_batches"].differing == 1  # finished since
    assert violations(target) == ()
    with open_store(target) as store, store.read() as conn:
        statuses = conn.execute("SELECT status FROM review_runs ORDER BY id").fetchall()
    assert [s[0] for s in statuses] == ["completed", "running"]


def test_rows_written_without_a_uid_export_the_same_every_time(
    corpus_kb: Path, cli: Cli, tmp_path: Path
) -> None:
    review_pairs(cli, corpus_kb, {k: v for k, v in SCENARIO.items() if k[0] == PLAIN_NOTE})
    db = store_of(corpus_kb)
    execute_sql(db, "UPDATE review_runs SET uid = NULL", "UPDATE review_batches SET uid = NULL")
    dumped = export_text(db)
    assert export_text(db) == dumped
    runs = rows_of(dumped, "review_runs")
    assert len({r["uid"] for r in runs}) == len(runs) == 1
    assert rows_of(dumped, "gate_reviews")[0]["run_uid"] == runs[0]["uid"]
    other = tmp_path / "other.sqlite"
    import_text(other, dumped)
    assert added(import_text(other, dumped)) == {}
    assert rows(other, "SELECT uid FROM review_runs") == [(runs[0]["uid"],)]


def test_export_streams_in_flat_memory(tmp_path: Path) -> None:
    """A store of ~12 MB of snapshots exports with a peak far below its size."""
    db = tmp_path / "big.sqlite"
    texts = [f"note {i}\n" + "x" * 3000 for i in range(4000)]
    with open_store(db) as store, store.write() as conn:
        conn.executemany(
            "INSERT INTO snapshots (sha, text) VALUES (?, ?)",
            [(blob_sha(t.encode()), t) for t in texts],
        )
    with open_store(db) as store:
        tracemalloc.start()
        size = sum(len(line) for line in export_lines(store))
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert size > 12_000_000
    assert peak < 3_000_000, peak


def test_an_export_is_of_one_moment_while_others_write(target: str, tmp_path: Path) -> None:
    """Rows written while an export runs are not in it, on either backend,
    and the dump stays whole (its counts match its rows)."""
    late = "late note\n"
    with open_store(target) as store, store.write() as conn:
        add_snapshots(conn, [(blob_sha(t.encode()), t) for t in ("a\n", "b\n")])
    with open_store(target) as exporting:
        lines = export_lines(exporting)
        started = [next(lines), next(lines)]  # the header and the first snapshot
        with open_store(target) as writer, writer.write() as conn:
            add_snapshots(conn, [(blob_sha(late.encode()), late)])
            add_resolution(  # a table the export reads later
                conn, requested_model="opus", requested_effort=None, resolved_model=MODEL,
                resolved_model_id=MODEL, observed_at="2026-01-01T00:00:00.000Z", batch_id=None,
            )  # fmt: skip
        text = "".join([*started, *lines])
    assert end_counts(text)["snapshots"] == 2
    assert end_counts(text)["model_alias_resolutions"] == 0
    assert late not in {r["text"] for r in rows_of(text, "snapshots")}
    assert import_text(tmp_path / "copy.sqlite", text).tables["snapshots"].added == 2


def test_labels_travel_with_their_override_and_older_dumps_have_none(
    cli: Cli, corpus_kb: Path, target: str
) -> None:
    source = rich_history(cli, corpus_kb)
    dumped = export_text(source)
    labels = rows_of(dumped, "labels")
    # the relocated note's label moved with it; the accepted one names its event
    assert [(row["note_path"], row["why"]) for row in labels] == [
        ("kb/notes/moved-note.md", "ünïcode\nwhy"),
        (PLAIN_NOTE, "ünïcode\nwhy"),
    ]
    overrides = [
        row for row in rows_of(dumped, "acceptance_events")
        if row["acceptance_kind"] == "manual-override"
    ]  # fmt: skip
    assert [labels[1]["acceptance_uid"]] == [row["uid"] for row in overrides]
    import_text(target, dumped)
    warn = cli("warn-selector", "--json", "--db", target, cwd=corpus_kb)
    assert warn.out == cli("warn-selector", "--json", "--db", str(source), cwd=corpus_kb).out
    assert '"manual-override"' in warn.out  # the label's fail, in the fix queue

    lines = [json.loads(line) for line in dumped.splitlines()]
    old = []
    for document in lines:  # the same history dumped at schema 7, before labels
        if "format" in document:
            document["schema_version"] = 7
        elif "end" in document:
            del document["end"]["labels"]
        elif document["table"] == "labels":
            continue
        old.append(json.dumps(document) + "\n")
    assert import_text(target, "".join(old)).tables["labels"].read == 0
    forged = [*old[:-1], json.dumps({"table": "labels", "row": labels[0]}) + "\n", old[-1]]
    with pytest.raises(UserError, match="labels rows in a dump of schema 7"):
        import_text(target, "".join(forged))
    # a label naming an acceptance the dump does not hold
    uid = labels[1]["acceptance_uid"]
    text = dumped.replace(f'"acceptance_uid":"{uid}"', f'"acceptance_uid":"{"e" * 32}"')
    assert text != dumped
    with pytest.raises(UserError, match="names no acceptance_events row before it"):
        import_text(target, text)
