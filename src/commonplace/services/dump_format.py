"""The dump format of `commonplace-review-store export` / `import`
(docs/store-dump.md), and the reader that checks every line of one.

A dump is JSON Lines, ASCII only: a header, one line per row in dependency
order, and an end line with the row counts (so a truncated dump is told
from a short one). A dump is read as hostile input: every value is checked
against the schema's types and CHECKs, every reference must name a row
earlier in the same dump, every snapshot must hash to its sha, and the
first fault stops the reading with `NAME line N: ...`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO

from commonplace.capped import MAX_OUTPUT
from commonplace.errors import UserError
from commonplace.git import blob_sha
from commonplace.store.dump import TABLES
from commonplace.store.migrations import MIGRATIONS

FORMAT = "commonplace-review-store-dump"
VERSION = 1
# The first schema whose rows carry a uid; a dump names the schema it was made at.
FIRST_SCHEMA = 5
# What schema 6 (provider batch jobs) added to the dump's batches: a dump
# made at an earlier schema has no such columns, and reads as having no jobs.
SINCE_6_COLUMNS = {"review_batches": ("provider_job_uid", "provider_custom_id")}
# The tables later schemas added: a dump made before one has no rows of it.
# (The format's version stays 1: the schema version says what a dump holds,
# and a reader older than the schema refuses it with the upgrade to make.)
TABLE_SINCE = {"provider_jobs": 6, "labels": 8}
# A row's largest field is an output of at most MAX_OUTPUT characters; as
# JSON escapes in ASCII that is at most 6 bytes a character, plus the rest.
MAX_LINE = 8 * MAX_OUTPUT
MAX_INT = 2**63 - 1

_UID = re.compile(r"[0-9a-f]{32}")
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


@dataclass(frozen=True)
class Column:
    kind: str  # text, int, uid, sha, time, json, or enum (with `choices`)
    optional: bool = False
    choices: tuple[str, ...] = ()


T, T_ = Column("text"), Column("text", True)
N, N_ = Column("int"), Column("int", True)
U, U_ = Column("uid"), Column("uid", True)
S, TIME, TIME_ = Column("sha"), Column("time"), Column("time", True)
J, J_ = Column("json"), Column("json", True)


def _enum(*choices: str) -> Column:
    return Column("enum", choices=choices)


# What each column of the dump holds: the schema's types, NOT NULLs and CHECKs.
# fmt: off
SPEC: dict[str, dict[str, Column]] = {
    "snapshots": {"sha": S, "text": T},
    "provider_jobs": {
        "uid": U, "provider": T, "job_id": T, "status": T,
        "submitted_at": TIME, "deliver_until": TIME, "ended_at": TIME_, "detail": T_,
    },
    "review_batches": {
        "uid": U, "packing": _enum("note", "gate", "explicit"), "executor": T,
        "requested_model": T, "requested_effort": T_, "requested_model_id": T,
        "prompt_sha256": T_, "prompt_chars": N_, "prompt_format_version": T_,
        "created_at": TIME, "finished_at": TIME_, "telemetry_json": J_, "debug_log": T_,
        "raw_output": T_, "boundary_token": T_, "provider_job_uid": U_,
        "provider_custom_id": T_,
    },
    "review_runs": {
        "uid": U, "batch_uid": U, "note_path": T, "model_id": T, "runner": T,
        "reviewed_note_sha": S, "reviewed_note_commit": T_, "started_at": TIME,
        "completed_at": TIME_, "status": _enum("running", "completed", "failed"),
        "failure_reason": T_, "telemetry_json": J_, "raw_bundle_markdown": T_,
        "debug_log": T_, "rekeyed_from": T_, "host": T_, "pid": N_,
        "owner_started_at": T_, "lease_expires_at": TIME_,
    },
    "review_run_gates": {"run_uid": U, "gate_id": T, "gate_sha": S, "ordinal": N},
    "gate_reviews": {
        "uid": U, "run_uid": U, "note_path": T, "gate_id": T, "model_id": T,
        "decision": _enum("pass", "warn", "fail", "error", "unknown"),
        "rationale_markdown": T, "findings_json": J, "gate_sha": S, "reviewed_note_sha": S,
        "reviewed_note_commit": T_, "reviewed_at": TIME, "review_kind": _enum("full-review"),
    },
    "acceptance_events": {
        "uid": U, "note_path": T, "gate_id": T, "model_id": T, "review_uid": U_,
        "accepted_note_sha": S, "accepted_note_commit": T_, "accepted_gate_sha": S,
        "accepted_at": TIME,
        "acceptance_kind": _enum(
            "full-review", "trivial-change-ack", "gate-migration", "migration-import",
            "manual-override",
        ),
    },
    "model_alias_resolutions": {
        "uid": U, "requested_model": T, "requested_effort": T_, "resolved_model": T,
        "resolved_model_id": T, "observed_at": TIME, "batch_uid": U_,
    },
    "note_relocations": {
        "uid": U, "old_path": T, "new_path": T, "relocated_at": TIME, "review_runs": N,
        "gate_reviews": N, "acceptance_events": N,
    },
    "labels": {
        "uid": U, "note_path": T, "gate_id": T, "note_sha": S, "gate_sha": S,
        "decision": _enum("pass", "warn", "fail"), "why": T_, "model_id": T_, "labeller": T,
        "created_at": TIME, "acceptance_uid": U_,
    },
}
# fmt: on


class DumpError(UserError):
    """A dump that cannot be imported; the message names the line."""


@dataclass(frozen=True)
class Record:
    line: int
    table: str
    row: dict[str, Any]


def header(schema_version: int) -> dict[str, object]:
    return {"format": FORMAT, "version": VERSION, "schema_version": schema_version}


def encode(document: object) -> str:
    """One line of the dump: compact JSON in ASCII, so no byte of it but the
    last is a newline, whatever the text holds."""
    return json.dumps(document, ensure_ascii=True, separators=(",", ":")) + "\n"


class Reader:
    """Reads one dump, checking as it goes. `nul_ok`: whether the target can
    store a NUL character in text (SQLite can, PostgreSQL cannot)."""

    def __init__(self, name: str, *, nul_ok: bool = True, max_line: int = MAX_LINE) -> None:
        self.name, self.nul_ok, self.max_line = name, nul_ok, max_line
        self.counts = dict.fromkeys(TABLES, 0)
        self.schema_version = 0
        self._seen: dict[str, set[Any]] = {t: set() for t in TABLES}
        self._ordinals: set[tuple[str, int]] = set()
        self._reviewed: set[tuple[str, str]] = set()
        self._line = 0

    def fail(self, message: str) -> DumpError:
        return DumpError(f"{self.name} line {self._line}: {message}")

    def records(self, stream: BinaryIO) -> Iterator[Record]:
        """Each row of the dump, checked; a `DumpError` at the first fault,
        also after the last row when the end line is missing or wrong."""
        lines = self._lines(stream)
        first = next(lines, None)
        if first is None:
            raise DumpError(f"{self.name} is empty: not a review store dump")
        self._read_header(first)
        table_index = 0
        for document in lines:
            if "end" in document:
                self._read_end(document)
                if next(lines, None) is not None:
                    raise self.fail("text after the end line")
                return
            if set(document) != {"table", "row"}:
                raise self.fail('expected {"table": ..., "row": {...}} or the end line')
            table = document["table"]
            if not isinstance(table, str) or table not in SPEC:
                raise self.fail(f"unknown table {_short(table)}")
            if TABLES.index(table) < table_index:
                raise self.fail(f"{table} row after {TABLES[table_index]} rows (out of order)")
            table_index = TABLES.index(table)
            row = document["row"]
            if not isinstance(row, dict):
                raise self.fail(f"{table}: the row is not an object")
            if TABLE_SINCE.get(table, 0) > self.schema_version:
                raise self.fail(f"{table} rows in a dump of schema {self.schema_version}")
            if self.schema_version < 6:
                row = {**dict.fromkeys(SINCE_6_COLUMNS.get(table, ())), **row}
            self._check_row(table, row)
            self.counts[table] += 1
            yield Record(self._line, table, row)
        raise self.fail("the dump ends without its end line (truncated?)")

    def _lines(self, stream: BinaryIO) -> Iterator[dict[str, Any]]:
        while True:
            raw = stream.readline(self.max_line + 1)
            if not raw:
                return
            self._line += 1
            if len(raw) > self.max_line:
                raise self.fail(f"longer than {self.max_line} bytes")
            if not raw.endswith(b"\n"):
                raise self.fail("the last line is cut off (truncated?)")
            try:
                document = json.loads(
                    raw.decode("utf-8"),
                    object_pairs_hook=_no_duplicates,
                    parse_constant=_no_constant,
                )
            except UnicodeDecodeError:
                raise self.fail("not UTF-8 text") from None
            except (ValueError, RecursionError) as exc:
                raise self.fail(f"not JSON ({_short(str(exc), 80)})") from None
            if not isinstance(document, dict):
                raise self.fail("not a JSON object")
            yield document

    def _read_header(self, document: dict[str, Any]) -> None:
        if document.get("format") != FORMAT:
            raise self.fail(f"not a review store dump (no format {FORMAT!r})")
        version, schema = document.get("version"), document.get("schema_version")
        if not _is_int(version) or version != VERSION:
            raise self.fail(
                f"dump format version {_short(version)}; this commonplace-review reads {VERSION}"
            )
        if not isinstance(schema, int) or isinstance(schema, bool) or schema < FIRST_SCHEMA:
            raise self.fail(f"schema version {_short(schema)} cannot be imported")
        if schema > len(MIGRATIONS):
            raise self.fail(
                f"the dump has schema version {schema}, newer than this commonplace-review"
                f" understands ({len(MIGRATIONS)}); upgrade commonplace-review"
            )
        self.schema_version = schema

    def _read_end(self, document: dict[str, Any]) -> None:
        counts = document["end"]
        if set(document) != {"end"} or not isinstance(counts, dict):
            raise self.fail('the end line is {"end": {table: rows, ...}}')
        held_tables = {
            t: n for t, n in self.counts.items() if TABLE_SINCE.get(t, 0) <= self.schema_version
        }
        if set(counts) != set(held_tables):
            raise self.fail(f"the end line names the tables {_short(sorted(counts), 200)}")
        for table, held in held_tables.items():
            if counts[table] != held:
                raise self.fail(
                    f"the end line counts {_short(counts[table])} {table} rows, the dump"
                    f" holds {held} (a row is missing or added)"
                )

    def _check_row(self, table: str, row: dict[str, Any]) -> None:
        spec = SPEC[table]
        if set(row) != set(spec):
            missing, extra = sorted(set(spec) - set(row)), sorted(set(row) - set(spec))
            said = [
                f"{what} columns {_short(names, 200)}"
                for what, names in (("missing", missing), ("unknown", extra))
                if names
            ]
            raise self.fail(f"{table}: {', '.join(said)}")
        for column, kind in spec.items():
            problem = self._problem(kind, row[column])
            if problem:
                raise self.fail(f"{table}.{column}: {problem}")
        problem = _rule(table, row)
        if problem:
            raise self.fail(f"{table}: {problem}")
        self._check_links(table, row)

    def _problem(self, column: Column, value: Any) -> str | None:
        if value is None:
            return None if column.optional else "must not be null"
        if column.kind == "int":
            if not _is_int(value) or not -MAX_INT - 1 <= value <= MAX_INT:
                return f"expected a 64-bit integer, not {_short(value)}"
            return None
        if not isinstance(value, str):
            return f"expected text, not {_short(value)}"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "not valid Unicode (a lone surrogate)"
        if "\0" in value and not self.nul_ok:
            return "holds a NUL character, which a PostgreSQL store cannot keep"
        if column.kind == "enum" and value not in column.choices:
            return f"{_short(value)} is not one of {', '.join(column.choices)}"
        if column.kind == "uid" and not _UID.fullmatch(value):
            return f"not a uid (32 hex digits): {_short(value)}"
        if column.kind == "sha" and not _SHA.fullmatch(value):
            return f"not a sha (40 or 64 hex digits): {_short(value)}"
        if column.kind == "time" and not _is_time(value):
            return f"not an ISO-8601 time: {_short(value)}"
        if column.kind == "json":
            try:
                json.loads(value, parse_constant=_no_constant)
            except (ValueError, RecursionError):
                return "not JSON text"
        return None

    def _check_links(self, table: str, row: dict[str, Any]) -> None:
        """Identities are unique, and references name rows read before."""
        seen = self._seen
        if table == "snapshots":
            if blob_sha(row["text"].encode("utf-8")) != row["sha"]:
                raise self.fail(f"snapshot {row['sha']}: its text does not hash to its sha")
            key: Any = row["sha"]
        elif table == "review_run_gates":
            key = (row["run_uid"], row["gate_id"])
            if (row["run_uid"], row["ordinal"]) in self._ordinals:
                raise self.fail(f"review_run_gates: ordinal {row['ordinal']} twice in a run")
            self._ordinals.add((row["run_uid"], row["ordinal"]))
        else:
            key = row["uid"]
        if key in seen[table]:
            raise self.fail(f"{table}: {_short(key)} appears twice")
        seen[table].add(key)
        links = {
            "review_runs": (
                ("batch_uid", "review_batches"),
                ("reviewed_note_sha", "snapshots"),
            ),
            "review_run_gates": (("run_uid", "review_runs"), ("gate_sha", "snapshots")),
            "gate_reviews": (("run_uid", "review_runs"),),
            "acceptance_events": (("review_uid", "gate_reviews"),),
            "model_alias_resolutions": (("batch_uid", "review_batches"),),
            "review_batches": (("provider_job_uid", "provider_jobs"),),
            "labels": (
                ("acceptance_uid", "acceptance_events"),
                ("note_sha", "snapshots"),
                ("gate_sha", "snapshots"),
            ),
        }.get(table, ())
        for column, target in links:
            if row[column] is not None and row[column] not in seen[target]:
                raise self.fail(f"{table}.{column} {row[column]} names no {target} row before it")
        if table == "gate_reviews":
            if (row["run_uid"], row["gate_id"]) in self._reviewed:
                raise self.fail("gate_reviews: two reviews of one gate of one run")
            if (row["run_uid"], row["gate_id"]) not in seen["review_run_gates"]:
                raise self.fail(f"gate_reviews: gate {_short(row['gate_id'])} is not in its run")
            self._reviewed.add((row["run_uid"], row["gate_id"]))


def _rule(table: str, row: dict[str, Any]) -> str | None:
    """The schema's CHECKs that tie columns of one row together."""
    if table == "review_runs":
        status, done, reason = row["status"], row["completed_at"], row["failure_reason"]
        fine = {
            "running": done is None and reason is None,
            "completed": done is not None and reason is None,
            "failed": done is not None and bool(reason),
        }[status]
        if not fine:
            return f"a {status} run with completed_at {done!r} and failure_reason {_short(reason)}"
    full = row.get("acceptance_kind") == "full-review"
    if table == "acceptance_events" and full and row["review_uid"] is None:
        return "a full-review acceptance names no review"
    if table == "review_run_gates" and row["ordinal"] < 0:
        return "ordinal below 0"
    if table == "labels" and row["acceptance_uid"] is not None and row["model_id"] is None:
        return "a label that accepted a pair names no partition"
    if table == "note_relocations" and row["old_path"] == row["new_path"]:
        return "a relocation to the same path"
    return None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_time(value: str) -> bool:
    try:
        datetime.fromisoformat(value.removesuffix("Z") + ("+00:00" if value.endswith("Z") else ""))
    except ValueError:
        return False
    return True


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        raise ValueError("a key appears twice in one object")
    return found


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _short(value: object, limit: int = 60) -> str:
    """A value from the dump, quoted, on one line and cut short."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
