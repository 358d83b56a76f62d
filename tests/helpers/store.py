"""Helpers shared by the review library tests: the example KB's notes and gates,
planning and creating review runs against a store, and raw store rows."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from commonplace.config import Config, load_config
from commonplace.git import GitState, blob_sha, read_state
from commonplace.kb.files import KbFile, read_file
from commonplace.lifecycle import CreatedBatch, Packing, create_batch
from commonplace.lifecycle.partitions import Partition, normalize, with_effort
from commonplace.lifecycle.targets import Plan, plan_runs
from commonplace.services.batch import PreparedBatch, prepare_review_batch
from commonplace.store import acceptances
from commonplace.store.connection import Store
from commonplace.store.snapshots import add_snapshots
from commonplace.workspace import Workspace

# Example-KB notes.
SKETCH = "kb/notes/a-rough-sketch-beats-a-long-description-of-a-bed-layout.md"
DATE = "kb/notes/date-every-entry-before-writing-anything-else.md"
FROST = "kb/notes/frost-dates.md"  # traits: []
SEEDS = "kb/notes/seed-packets.md"
COMPOST = "kb/notes/topics/compost-readings-are-only-comparable-at-the-same-depth.md"

# Example-KB gates.
OVERREACH = "claims/overreaching-generalization"
TITLE_CLAIM = "claims/title-states-a-claim"  # requires_trait: title-as-claim
REPEATS = "clarity/description-repeats-title"
ABBREV = "clarity/undefined-abbreviation"
TAGS = "metadata/tags-present"

# The partition `demo` names through the example KB's config alias.
DEMO = Partition(requested_model="demo", effort=None, model="demo-reviewer-1")

# The timestamp of rows written with raw SQL.
NOW = "2024-05-01T10:00:00.000Z"


def kb_state(kb: Path) -> tuple[Config, GitState]:
    """The KB's config and the git state of its notes and gates."""
    config = load_config(kb)
    return config, read_state(config.kb_root, [*config.scan_roots, config.gates_dir])


def make_plan(kb: Path, requests: Sequence[tuple[str | KbFile, Sequence[str]]]) -> Plan:
    """plan_runs for (note, gate refs) requests; a note is a key or a KbFile."""
    config, state = kb_state(kb)
    return plan_runs(
        config,
        state,
        [(n if isinstance(n, KbFile) else read_file(kb, n), gates) for n, gates in requests],
    )


def create_runs(
    store: Store,
    kb: Path,
    requests: Sequence[tuple[str, Sequence[str]]],
    *,
    partition: Partition = DEMO,
    owned: bool = False,
) -> CreatedBatch:
    """One batch of live-agent runs, note-packed for a single request."""
    return create_batch(
        store,
        make_plan(kb, requests),
        packing=Packing.NOTE if len(requests) == 1 else Packing.EXPLICIT,
        runner="live-agent",
        partition=partition,
        owned_by_this_process=owned,
    )


def start_run(store: Store, kb: Path, note: str, gates: Sequence[str]) -> int:
    """A running run of `gates` on `note` in its own batch; returns its id."""
    return create_runs(store, kb, [(note, gates)]).runs[0].review_run_id


def insert_batch(
    conn: sqlite3.Connection,
    *,
    packing: str = "note",
    executor: str = "live-agent",
    model: str = "demo",
    created_at: str = NOW,
) -> int:
    """A review_batches row written with raw SQL (requested model and model id
    both `model`); returns its id."""
    batch_id = conn.execute(
        "INSERT INTO review_batches (packing, executor, requested_model, requested_model_id,"
        " created_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
        (packing, executor, model, model, created_at),
    ).fetchone()[0]
    assert batch_id is not None
    return batch_id


def observe(store: Store, requested: str, resolved: str, effort: str | None = None) -> None:
    with store.write() as conn:
        conn.execute(
            "INSERT INTO model_alias_resolutions (requested_model, requested_effort,"
            " resolved_model, resolved_model_id, observed_at) VALUES (?, ?, ?, ?, ?)",
            (
                requested,
                effort,
                resolved,
                with_effort(normalize(resolved), effort),
                "2024-01-01T00:00:00.000Z",
            ),
        )


def prepare_batch(ws: Workspace, *pairs: str) -> PreparedBatch:
    """A claude-workflow batch of `pairs` (`note::gate` arguments) for `demo`."""
    return prepare_review_batch(ws, pairs, runner="claude-workflow", model="demo")


def append_ack(
    conn: Any,
    texts: Sequence[str],
    *,
    note: str,
    gate: str,
    model: str,
    note_sha: str,
    gate_sha: str,
) -> int:
    """A trivial-change ack of (note, gate) at these versions, written straight
    through the store layer, after the snapshots of `texts` it may refer to."""
    add_snapshots(conn, [(blob_sha(t.encode()), t) for t in texts])
    return acceptances.add_ack(
        conn,
        note_path=note,
        gate_id=gate,
        model_id=model,
        note_sha=note_sha,
        note_commit=None,
        gate_sha=gate_sha,
        at="2026-12-08T00:00:00Z",
        kind="trivial-change-ack",
    )
