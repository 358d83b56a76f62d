"""Lighter artifacts: prompts kept once by content, raw texts compressed in
the store, `review-store artifacts` writing files again from the store
byte for byte, `prune-artifacts` removing only what can be written again,
and the bytes per reviewed pair in `stats`. On both backends."""

from __future__ import annotations

import hashlib
import json
import os
from functools import partial
from pathlib import Path

import pytest
from helpers.db import execute_sql, rows, store_of
from helpers.reviews import review
from helpers.store import FROST, SEEDS, TAGS
from helpers.store import prepare_batch as prepare
from helpers.transfer import export_text, import_text, rows_of, violations

from commonplace.protocol.grammar import block
from commonplace.protocol.prompt import prompt_token, requested_pairs
from commonplace.safe_files import LinkRefused
from commonplace.services import artifacts
from commonplace.services.batch import PreparedBatch
from commonplace.services.ingest import ingest_batch_output
from commonplace.store.batches import batch_output
from commonplace.store.packing import PACK_ABOVE, pack, unpack
from commonplace.store.runs import stored_document
from commonplace.workspace import Workspace

pytestmark = pytest.mark.both_backends

review_text = partial(review, finding="the second paragraph", summary="Checked.")
REVIEWS = "kb/reports/bundle-reviews"


def output_for(ws: Workspace, prepared: PreparedBatch) -> str:
    prompt = (ws.config.kb_root / prepared.prompt_path).read_text(encoding="utf-8")
    token = prompt_token(prompt)
    return "Reviewed.\n\n" + "".join(
        block(pair, review_text("WARN"), token=token) for pair in requested_pairs(prompt)
    )


def files_under(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def ingested(ws: Workspace) -> PreparedBatch:
    """A prepared batch of two notes, ingested from its output file (the
    orchestrator's medium: run folders are written)."""
    prepared = prepare(ws, f"{SEEDS}::claims", f"{FROST}::clarity")
    output = ws.config.kb_root / prepared.bundle_output_path
    output.write_text(output_for(ws, prepared), encoding="utf-8")
    ingest_batch_output(ws, output.read_bytes(), batch_id=prepared.batch.batch_id)
    return prepared


# --- prompts kept once ----------------------------------------------------------------------


def test_two_batches_with_the_same_prompt_share_one_file(ws: Workspace, db: Path) -> None:
    config = ws.config
    first, _ = artifacts.write_batch_files(config, 1, prompt="# Same\n", manifest={"batch_id": 1})
    second, _ = artifacts.write_batch_files(config, 2, prompt="# Same\n", manifest={"batch_id": 2})
    assert first == second == artifacts.prompt_file(config, hashlib.sha256(b"# Same\n").hexdigest())
    assert os.listdir(first.parent) == [first.name]  # type: ignore[union-attr]
    for batch_id in (1, 2):
        manifest = artifacts.batch_dir(config, batch_id) / "manifest.json"
        named = json.loads(manifest.read_text(encoding="utf-8"))["prompt_file"]
        assert config.kb_root / named == first


def test_a_prompt_edited_on_disk_is_rewritten_to_its_name(ws: Workspace, db: Path) -> None:
    path = artifacts.write_prompt(ws.config, "# Prompt\n")
    path.write_text("# Tampered\n", encoding="utf-8")
    assert artifacts.write_prompt(ws.config, "# Prompt\n") == path
    assert path.read_text(encoding="utf-8") == "# Prompt\n"


def test_a_link_planted_at_the_shared_prompt_is_refused(
    ws: Workspace, db: Path, tmp_path: Path
) -> None:
    text = "# Prompt\n"
    target = tmp_path / "elsewhere.md"
    target.write_text("outside\n", encoding="utf-8")
    path = artifacts.prompt_file(ws.config, hashlib.sha256(text.encode()).hexdigest())
    path.parent.mkdir(parents=True)
    path.symlink_to(target)
    with pytest.raises(LinkRefused, match="symbolic link"):
        artifacts.write_prompt(ws.config, text)
    with pytest.raises(LinkRefused):  # and before the store changes, for any batch
        artifacts.refuse_links(ws.config, batch_ids=[1])
    assert target.read_text(encoding="utf-8") == "outside\n"


def test_the_reported_prompt_path_is_the_shared_file(ws: Workspace, db: Path) -> None:
    prepared = prepare(ws, f"{FROST}::{TAGS}")
    with ws.store.read() as conn:
        ((sha,),) = conn.execute("SELECT prompt_sha256 FROM review_batches").fetchall()
    assert prepared.prompt_path == f"{REVIEWS}/prompts/{sha}.md"
    text = (ws.config.kb_root / prepared.prompt_path).read_bytes()
    assert hashlib.sha256(text).hexdigest() == sha


# --- regenerating and pruning ---------------------------------------------------------------


def test_prune_then_regenerate_gives_the_same_bytes(cli, ws: Workspace, db: Path) -> None:
    prepared = ingested(ws)
    kb = ws.config.kb_root
    root = kb / REVIEWS
    written = files_under(root)
    runs = [r.review_run_id for r in prepared.batch.runs]
    assert f"review-run-{runs[0]}/bundle-output.md" in written

    dry = cli("review-store", "--db", str(db), "prune-artifacts", "--dry-run", "--json", cwd=kb)
    assert dry.code == 0, dry.err
    assert files_under(root) == written  # a dry run removes nothing
    pruned = cli("review-store", "--db", str(db), "prune-artifacts", "--json", cwd=kb)
    assert pruned.json() == dry.json() | {"dry_run": False}
    removed = pruned.json()["removed"]
    assert f"{REVIEWS}/review-batch-{prepared.batch.batch_id}/bundle-output.md" in removed
    assert pruned.json()["bytes_freed"] == sum(len(written[p.split("/", 3)[3]]) for p in removed)
    left = files_under(root)
    # what the store cannot write again stays: the prompt and the manifest
    assert sorted(left) == sorted(
        [
            prepared.prompt_path.split("/", 3)[3],
            f"review-batch-{prepared.batch.batch_id}/manifest.json",
        ]
    )
    assert not (root / f"review-run-{runs[0]}").exists()

    again = cli(
        "review-store",
        "--db",
        str(db),
        "artifacts",
        "--batch",
        str(prepared.batch.batch_id),
        "--json",
        cwd=kb,
    )
    assert again.code == 0, again.err
    assert again.json()["notes"] == []
    assert files_under(root) == written  # byte for byte
    assert cli("review-store", "--db", str(db), "prune-artifacts", cwd=kb).code == 0
    assert cli("review-store", "--db", str(db), "artifacts", str(runs[1]), cwd=kb).code == 0
    assert files_under(root / f"review-run-{runs[1]}") == {
        k.split("/", 1)[1]: v for k, v in written.items() if k.startswith(f"review-run-{runs[1]}/")
    }


def test_a_sweep_batch_writes_its_manifest_and_regenerates_the_rest(cli, example_kb: Path):
    done = cli(
        "run-review-bundle", "kb/notes/frost-dates.md", "clarity", "--runner", "stand-in",
        "--model", "demo", "--json", cwd=example_kb,
    )  # fmt: skip
    assert done.code == 0, done.err
    root = example_kb / REVIEWS
    assert sorted(files_under(root)) == ["review-batch-1/manifest.json"]
    assert cli("review-store", "artifacts", "1", cwd=example_kb).code == 0
    run_files = files_under(root / "review-run-1")
    assert "bundle-output.md" in run_files and len(run_files) == 3  # the document and 2 gates
    document = run_files["bundle-output.md"].decode()
    with_store = stored_document_of(store_of(example_kb), 1)
    assert document == with_store
    pruned = cli("review-store", "prune-artifacts", cwd=example_kb)
    assert pruned.code == 0 and "removed 3 file(s)" in pruned.out
    assert sorted(files_under(root)) == ["review-batch-1/manifest.json"]


def stored_document_of(db: object, run_id: int) -> str | None:
    from helpers.transfer import open_store

    with open_store(db) as store, store.read() as conn:
        return stored_document(conn, run_id)


def test_prune_keeps_edited_files_and_batches_still_running(cli, ws: Workspace, db: Path) -> None:
    prepared = ingested(ws)
    kb = ws.config.kb_root
    run_id = prepared.batch.runs[0].review_run_id
    edited = kb / REVIEWS / f"review-run-{run_id}" / "bundle-output.md"
    edited.write_text(edited.read_text(encoding="utf-8") + "my note\n", encoding="utf-8")
    waiting = prepare(ws, f"{FROST}::{TAGS}")  # its output file is an input not yet ingested
    pending = kb / waiting.bundle_output_path
    pending.write_text(output_for(ws, waiting), encoding="utf-8")
    stray = kb / REVIEWS / "review-run-999" / "bundle-output.md"
    stray.parent.mkdir()
    stray.write_text("not in the store\n", encoding="utf-8")
    assert cli("review-store", "--db", str(db), "prune-artifacts", cwd=kb).code == 0
    assert edited.read_text(encoding="utf-8").endswith("my note\n")
    assert pending.is_file() and stray.is_file()
    # regenerating a run restores its edited copy from the store
    assert cli("review-store", "--db", str(db), "artifacts", str(run_id), cwd=kb).code == 0
    assert not edited.read_text(encoding="utf-8").endswith("my note\n")


def test_an_edited_prompt_is_reported_not_trusted(cli, ws: Workspace, db: Path) -> None:
    prepared = ingested(ws)
    kb = ws.config.kb_root
    (kb / prepared.prompt_path).write_text("edited\n", encoding="utf-8")
    result = cli(
        "review-store",
        "--db",
        str(db),
        "artifacts",
        "--batch",
        str(prepared.batch.batch_id),
        "--json",
        cwd=kb,
    )
    assert result.code == 0
    assert result.json()["notes"] == [
        f"{prepared.prompt_path} was edited: it no longer hashes to its name"
    ]
    assert cli("review-store", "--db", str(db), "prune-artifacts", cwd=kb).code == 0
    assert (kb / prepared.prompt_path).read_text(encoding="utf-8") == "edited\n"  # never pruned


@pytest.mark.parametrize(
    "args, code, message",
    [
        (("artifacts", "99"), 1, "review run 99 not found"),
        (("artifacts", "--batch", "42"), 1, "review batch 42 not found"),
        (("artifacts", "0"), 2, "not a review run id: '0'"),
        (("artifacts", "x1"), 2, "not a review run id: 'x1'"),
        (("artifacts",), 2, "artifacts needs review run ids"),
        (("prune-artifacts", "3"), 2, "prune-artifacts takes no argument"),
        (("stats", "--dry-run"), 2, "--dry-run goes with prune-artifacts only"),
    ],
)
def test_bad_ids_and_usage(
    cli, ws: Workspace, db: Path, args: tuple[str, ...], code: int, message: str
):
    ingested(ws)
    result = cli("review-store", "--db", str(db), *args, cwd=ws.config.kb_root)
    assert result.code == code
    assert message in result.err


def test_links_are_refused_and_nothing_is_removed(
    cli, ws: Workspace, db: Path, tmp_path: Path
) -> None:
    prepared = ingested(ws)
    kb = ws.config.kb_root
    root = kb / REVIEWS
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "bundle-output.md").write_text("keep me\n", encoding="utf-8")
    (root / "review-run-77").symlink_to(outside, target_is_directory=True)
    before = files_under(root)
    result = cli("review-store", "--db", str(db), "prune-artifacts", cwd=kb)
    assert result.code == 1 and "symbolic link" in result.err
    assert files_under(root) == before
    assert (outside / "bundle-output.md").read_text(encoding="utf-8") == "keep me\n"
    (root / "review-run-77").unlink()
    run_id = prepared.batch.runs[0].review_run_id
    gate_file = next((root / f"review-run-{run_id}").glob("claims__*.md"))
    gate_file.unlink()
    gate_file.symlink_to(outside / "bundle-output.md")
    for args in (("prune-artifacts",), ("artifacts", str(run_id))):
        refused = cli("review-store", "--db", str(db), *args, cwd=kb)
        assert refused.code == 1 and "symbolic link" in refused.err, args
    assert (outside / "bundle-output.md").read_text(encoding="utf-8") == "keep me\n"


# --- compressed texts -----------------------------------------------------------------------


def test_pack_round_trip() -> None:
    short = "x" * (PACK_ABOVE - 1)
    assert pack(short) == (short, None) and pack(None) == (None, None)
    long = "### Findings\n- none\n" * 100
    plain, packed = pack(long)
    assert plain is None and packed is not None and len(packed) < len(long) // 5
    assert unpack(plain, packed) == long
    noise = os.urandom(600).hex()[:600]  # compresses too little to be worth it? kept either way
    assert unpack(*pack(noise)) == noise


def test_long_texts_are_stored_compressed_and_dumped_plain(ws: Workspace, db: Path, tmp_path: Path):
    prepared = ingested(ws)
    db = db
    batch_id = prepared.batch.batch_id
    ((plain, packed),) = rows(db, "SELECT raw_output, raw_output_z FROM review_batches")
    assert plain is None and packed is not None  # the output is long: kept compressed
    with ws.store.read() as conn:
        text = batch_output(conn, batch_id)
        documents = {
            r.review_run_id: stored_document(conn, r.review_run_id) for r in prepared.batch.runs
        }
    assert text == output_for(ws, prepared)
    dump = export_text(db)
    assert [row["raw_output"] for row in rows_of(dump, "review_batches")] == [text]
    assert sorted(str(r["raw_bundle_markdown"]) for r in rows_of(dump, "review_runs")) == sorted(
        str(d) for d in documents.values()
    )
    assert "_z" not in dump.splitlines()[1]
    copy = tmp_path / "copy.sqlite"
    import_text(copy, dump)
    assert violations(copy) == ()
    assert export_text(copy).splitlines()[1:] == dump.splitlines()[1:]
    ((plain, packed),) = rows(copy, "SELECT raw_output, raw_output_z FROM review_batches")
    assert plain is None and packed is not None  # compressed again on import


def test_check_reports_a_damaged_compressed_text(ws: Workspace, db: Path) -> None:
    ingested(ws)
    db = db
    assert violations(db) == ()
    execute_sql(db, "UPDATE review_batches SET raw_output = 'plain too'")
    found = violations(db)
    assert any("both plain and compressed" in v for v in found), found


# --- stats ----------------------------------------------------------------------------------


def test_stats_give_bytes_per_reviewed_pair(cli, ws: Workspace, db: Path) -> None:
    ingested(ws)
    kb = ws.config.kb_root
    stats = cli("review-store", "--db", str(db), "stats", "--json", cwd=kb).json()
    files = sum(len(b) for b in files_under(kb / REVIEWS).values())
    assert stats["artifact_bytes"] == files
    assert stats["reviewed_pairs"] == 4
    assert stats["store_bytes"] > 0
    assert stats["bytes_per_reviewed_pair"] == round((stats["store_bytes"] + files) / 4)
