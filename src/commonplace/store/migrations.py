"""Ordered, append-only schema migrations, one list for both backends.
Migration N sets the schema version N (SQLite's `user_version`, PostgreSQL's
`schema_version` table).

Statements are written in SQLite's dialect; `postgres_statements` carries
them over (identity keys, 64-bit integers), and the few that cannot be
carried over (triggers, random ids) name both versions. Never edit a
released migration; add the next one.
"""

from __future__ import annotations

from commonplace.store.acceptance_marks import M009_ACCEPTANCE_MARKS
from commonplace.store.migration_format import (
    Dialects,
    Migration,
    postgres_statements,
    refusal,
    sqlite_statements,
)

__all__ = ["MIGRATIONS", "Dialects", "Migration", "postgres_statements", "sqlite_statements"]

_RUN_STATUS_RULES = """
    CHECK (
        (status = 'running' AND completed_at IS NULL AND failure_reason IS NULL)
        OR (status = 'completed' AND completed_at IS NOT NULL AND failure_reason IS NULL)
        OR (status = 'failed' AND completed_at IS NOT NULL
            AND failure_reason IS NOT NULL AND failure_reason <> '')
    )
"""

M001_INITIAL = Migration(
    "m001_initial",
    (
        """CREATE TABLE snapshots (
            sha TEXT PRIMARY KEY,
            text TEXT NOT NULL
        )""",
        """CREATE TABLE review_batches (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            packing TEXT NOT NULL CHECK (packing IN ('note', 'gate', 'explicit')),
            executor TEXT NOT NULL,
            requested_model TEXT NOT NULL,
            requested_effort TEXT,
            requested_model_id TEXT NOT NULL,
            prompt_sha256 TEXT,
            prompt_chars INTEGER,
            prompt_format_version TEXT,
            created_at TEXT NOT NULL,
            finished_at TEXT,
            telemetry_json TEXT,
            debug_log TEXT
        )""",
        f"""CREATE TABLE review_runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            batch_id INTEGER NOT NULL REFERENCES review_batches(id),
            note_path TEXT NOT NULL,
            model_id TEXT NOT NULL,
            runner TEXT NOT NULL,
            reviewed_note_sha TEXT NOT NULL REFERENCES snapshots(sha),
            reviewed_note_commit TEXT,
            started_at TEXT NOT NULL,
            completed_at TEXT,
            status TEXT NOT NULL DEFAULT 'running'
                CHECK (status IN ('running', 'completed', 'failed')),
            failure_reason TEXT,
            telemetry_json TEXT,
            raw_bundle_markdown TEXT,
            debug_log TEXT,
            rekeyed_from TEXT,
            host TEXT,
            pid INTEGER,
            {_RUN_STATUS_RULES}
        )""",
        "CREATE INDEX review_runs_by_batch ON review_runs(batch_id)",
        "CREATE INDEX review_runs_by_status ON review_runs(status, started_at)",
        "CREATE INDEX review_runs_by_note ON review_runs(note_path, model_id)",
        """CREATE TABLE review_run_gates (
            review_run_id INTEGER NOT NULL REFERENCES review_runs(id),
            gate_id TEXT NOT NULL,
            gate_sha TEXT NOT NULL REFERENCES snapshots(sha),
            ordinal INTEGER NOT NULL CHECK (ordinal >= 0),
            PRIMARY KEY (review_run_id, gate_id),
            UNIQUE (review_run_id, ordinal)
        )""",
        """CREATE TABLE gate_reviews (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            review_run_id INTEGER NOT NULL REFERENCES review_runs(id),
            note_path TEXT NOT NULL,
            gate_id TEXT NOT NULL,
            model_id TEXT NOT NULL,
            decision TEXT NOT NULL
                CHECK (decision IN ('pass', 'warn', 'fail', 'error', 'unknown')),
            rationale_markdown TEXT NOT NULL,
            findings_json TEXT NOT NULL DEFAULT '[]',
            gate_sha TEXT NOT NULL,
            reviewed_note_sha TEXT NOT NULL,
            reviewed_note_commit TEXT,
            reviewed_at TEXT NOT NULL,
            review_kind TEXT NOT NULL DEFAULT 'full-review'
                CHECK (review_kind IN ('full-review')),
            UNIQUE (review_run_id, gate_id),
            FOREIGN KEY (review_run_id, gate_id)
                REFERENCES review_run_gates(review_run_id, gate_id)
        )""",
        "CREATE INDEX gate_reviews_by_key ON gate_reviews(note_path, gate_id, model_id)",
        """CREATE TABLE acceptance_events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            note_path TEXT NOT NULL,
            gate_id TEXT NOT NULL,
            model_id TEXT NOT NULL,
            accepted_review_id INTEGER REFERENCES gate_reviews(id),
            accepted_note_sha TEXT NOT NULL,
            accepted_note_commit TEXT,
            accepted_gate_sha TEXT NOT NULL,
            accepted_at TEXT NOT NULL,
            acceptance_kind TEXT NOT NULL CHECK (acceptance_kind IN (
                'full-review', 'trivial-change-ack', 'gate-migration',
                'migration-import', 'manual-override')),
            CHECK (acceptance_kind <> 'full-review' OR accepted_review_id IS NOT NULL)
        )""",
        """CREATE INDEX acceptance_events_by_key
            ON acceptance_events(note_path, gate_id, model_id, id)""",
        "CREATE INDEX acceptance_events_by_model ON acceptance_events(model_id)",
        "CREATE INDEX acceptance_events_by_review ON acceptance_events(accepted_review_id)",
        # Append-only: keys may be rekeyed (model partitions, relocations), but
        # what was accepted, when and why never changes, and nothing is deleted.
        Dialects(
            None,  # SQLite's triggers raise by themselves
            refusal("acceptance_events_append_only", "acceptance_events is append-only"),
        ),
        Dialects(
            """CREATE TRIGGER acceptance_events_append_only_update
            BEFORE UPDATE OF id, accepted_review_id, accepted_note_sha, accepted_note_commit,
                accepted_gate_sha, accepted_at, acceptance_kind ON acceptance_events
            BEGIN SELECT RAISE(ABORT, 'acceptance_events is append-only'); END""",
            """CREATE TRIGGER acceptance_events_append_only_update
            BEFORE UPDATE OF id, accepted_review_id, accepted_note_sha, accepted_note_commit,
                accepted_gate_sha, accepted_at, acceptance_kind ON acceptance_events
            FOR EACH ROW EXECUTE FUNCTION acceptance_events_append_only()""",
        ),
        Dialects(
            """CREATE TRIGGER acceptance_events_append_only_delete
            BEFORE DELETE ON acceptance_events
            BEGIN SELECT RAISE(ABORT, 'acceptance_events is append-only'); END""",
            """CREATE TRIGGER acceptance_events_append_only_delete
            BEFORE DELETE ON acceptance_events
            FOR EACH ROW EXECUTE FUNCTION acceptance_events_append_only()""",
        ),
        Dialects(
            None,  # SQLite has no TRUNCATE
            """CREATE TRIGGER acceptance_events_append_only_truncate
            BEFORE TRUNCATE ON acceptance_events
            FOR EACH STATEMENT EXECUTE FUNCTION acceptance_events_append_only()""",
        ),
        """CREATE VIEW current_gate_acceptances AS
            SELECT e.* FROM acceptance_events AS e
            WHERE e.id = (
                SELECT MAX(x.id) FROM acceptance_events AS x
                WHERE x.note_path = e.note_path AND x.gate_id = e.gate_id
                    AND x.model_id = e.model_id
            )""",
        """CREATE TABLE model_alias_resolutions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            requested_model TEXT NOT NULL,
            requested_effort TEXT,
            resolved_model TEXT NOT NULL,
            resolved_model_id TEXT NOT NULL,
            observed_at TEXT NOT NULL,
            batch_id INTEGER REFERENCES review_batches(id)
        )""",
        """CREATE INDEX model_alias_resolutions_by_request
            ON model_alias_resolutions(requested_model, id)""",
    ),
)

M002_BATCH_OUTPUT = Migration(
    "m002_batch_output",
    # The executor's whole output, kept once per batch: runs keep only their
    # own canonical blocks, and a malformed output must stay inspectable.
    ("ALTER TABLE review_batches ADD COLUMN raw_output TEXT",),
)

M003_NOTE_RELOCATIONS = Migration(
    "m003_note_relocations",
    # Relocation rekeys a note's history in place; this is its audit trail,
    # so that an old path in a prompt or a log can still be followed.
    (
        """CREATE TABLE note_relocations (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            old_path TEXT NOT NULL,
            new_path TEXT NOT NULL CHECK (new_path <> old_path),
            relocated_at TEXT NOT NULL,
            review_runs INTEGER NOT NULL,
            gate_reviews INTEGER NOT NULL,
            acceptance_events INTEGER NOT NULL
        )""",
        "CREATE INDEX note_relocations_by_path ON note_relocations(old_path)",
    ),
)

M004_BOUNDARY_TOKEN = Migration(
    "m004_boundary_token",
    # The random token every sentinel of a pairs-v2 batch carries (SPEC 7);
    # batches prepared before it keep NULL and are read with pairs-v1 rules.
    ("ALTER TABLE review_batches ADD COLUMN boundary_token TEXT",),
)

# Rows that may travel between stores (export, import) carry a global
# identity: 32 hex digits of a random UUID.
_IDENTIFIED = (
    "review_batches",
    "review_runs",
    "gate_reviews",
    "acceptance_events",
    "note_relocations",
    "model_alias_resolutions",
)

M005_TEAM_STORE = Migration(
    "m005_team_store",
    (
        *(f"ALTER TABLE {table} ADD COLUMN uid TEXT" for table in _IDENTIFIED),
        *(
            Dialects(
                f"UPDATE {table} SET uid = lower(hex(randomblob(16))) WHERE uid IS NULL",
                f"UPDATE {table} SET uid = replace(gen_random_uuid()::text, '-', '')"
                " WHERE uid IS NULL",
            )
            for table in _IDENTIFIED
        ),
        *(f"CREATE UNIQUE INDEX {table}_by_uid ON {table}(uid)" for table in _IDENTIFIED),
        Dialects(
            """CREATE TRIGGER acceptance_events_uid_fixed
            BEFORE UPDATE OF uid ON acceptance_events WHEN OLD.uid IS NOT NULL
            BEGIN SELECT RAISE(ABORT, 'acceptance_events is append-only'); END""",
            """CREATE TRIGGER acceptance_events_uid_fixed
            BEFORE UPDATE OF uid ON acceptance_events
            FOR EACH ROW WHEN (OLD.uid IS NOT NULL)
            EXECUTE FUNCTION acceptance_events_append_only()""",
        ),
        # A running run's owner (host and pid were there: the process's start
        # tells a reused pid apart) and the lease it renews while it works.
        "ALTER TABLE review_runs ADD COLUMN owner_started_at TEXT",
        "ALTER TABLE review_runs ADD COLUMN lease_expires_at TEXT",
    ),
)

M006_PROVIDER_JOBS = Migration(
    "m006_provider_jobs",
    # A provider batch job (Anthropic Message Batches, OpenAI Batch API) and
    # the batches it carries, each one request named by its custom_id. Runs
    # waiting on a job are owned by it until `ended_at` (collected) or
    # `deliver_until` (the provider can no longer deliver).
    (
        """CREATE TABLE provider_jobs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            uid TEXT NOT NULL,
            provider TEXT NOT NULL,
            job_id TEXT NOT NULL,
            status TEXT NOT NULL,
            submitted_at TEXT NOT NULL,
            deliver_until TEXT NOT NULL,
            ended_at TEXT,
            detail TEXT
        )""",
        "CREATE UNIQUE INDEX provider_jobs_by_uid ON provider_jobs(uid)",
        "CREATE UNIQUE INDEX provider_jobs_by_job ON provider_jobs(provider, job_id)",
        "ALTER TABLE review_batches ADD COLUMN provider_job_id INTEGER"
        " REFERENCES provider_jobs(id)",
        "ALTER TABLE review_batches ADD COLUMN provider_custom_id TEXT",
        "CREATE INDEX review_batches_by_provider_job ON review_batches(provider_job_id)",
    ),
)

M007_PACKED_TEXTS = Migration(
    "m007_packed_texts",
    # Raw outputs, debug logs and run documents above a size are kept zlib
    # compressed (store/packing.py): a row has its text in the plain column
    # or in the `_z` column, never both, so reading is never ambiguous.
    tuple(
        Dialects(
            f"ALTER TABLE {table} ADD COLUMN {column}_z BLOB",
            f"ALTER TABLE {table} ADD COLUMN {column}_z BYTEA",
        )
        for table, column in (
            ("review_batches", "raw_output"),
            ("review_batches", "debug_log"),
            ("review_runs", "raw_bundle_markdown"),
        )
    ),
)

# What a label may never change once written (relocation may still move its
# note_path, as it moves the other logs' keys).
_LABEL_FIXED = (
    "id, uid, gate_id, note_sha, gate_sha, decision, why, model_id, labeller, created_at,"
    " acceptance_id"
)

M008_LABELS = Migration(
    "m008_labels",
    # A person's verdict on a (note, gate) pair at the versions they judged
    # (`commonplace label`); a partition when they judged for one, and the
    # `manual-override` acceptance it made when they accepted it. Append-only.
    (
        """CREATE TABLE labels (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            uid TEXT NOT NULL,
            note_path TEXT NOT NULL,
            gate_id TEXT NOT NULL,
            note_sha TEXT NOT NULL REFERENCES snapshots(sha),
            gate_sha TEXT NOT NULL REFERENCES snapshots(sha),
            decision TEXT NOT NULL CHECK (decision IN ('pass', 'warn', 'fail')),
            why TEXT,
            model_id TEXT,
            labeller TEXT NOT NULL,
            created_at TEXT NOT NULL,
            acceptance_id INTEGER REFERENCES acceptance_events(id),
            CHECK (acceptance_id IS NULL OR model_id IS NOT NULL)
        )""",
        "CREATE UNIQUE INDEX labels_by_uid ON labels(uid)",
        "CREATE INDEX labels_by_pair ON labels(note_path, gate_id, id)",
        "CREATE UNIQUE INDEX labels_by_acceptance ON labels(acceptance_id)",
        Dialects(None, refusal("labels_append_only", "labels is append-only")),
        Dialects(
            f"""CREATE TRIGGER labels_append_only_update
            BEFORE UPDATE OF {_LABEL_FIXED} ON labels
            BEGIN SELECT RAISE(ABORT, 'labels is append-only'); END""",
            f"""CREATE TRIGGER labels_append_only_update
            BEFORE UPDATE OF {_LABEL_FIXED} ON labels
            FOR EACH ROW EXECUTE FUNCTION labels_append_only()""",
        ),
        Dialects(
            """CREATE TRIGGER labels_append_only_delete
            BEFORE DELETE ON labels
            BEGIN SELECT RAISE(ABORT, 'labels is append-only'); END""",
            """CREATE TRIGGER labels_append_only_delete
            BEFORE DELETE ON labels
            FOR EACH ROW EXECUTE FUNCTION labels_append_only()""",
        ),
        Dialects(
            None,
            """CREATE TRIGGER labels_append_only_truncate
            BEFORE TRUNCATE ON labels
            FOR EACH STATEMENT EXECUTE FUNCTION labels_append_only()""",
        ),
    ),
)

MIGRATIONS: tuple[Migration, ...] = (
    M001_INITIAL,
    M002_BATCH_OUTPUT,
    M003_NOTE_RELOCATIONS,
    M004_BOUNDARY_TOKEN,
    M005_TEAM_STORE,
    M006_PROVIDER_JOBS,
    M007_PACKED_TEXTS,
    M008_LABELS,
    M009_ACCEPTANCE_MARKS,
)
