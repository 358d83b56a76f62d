"""Repairing finished runs from the harness CLIs' own session logs (the
seeds' path 5): rebuild telemetry that was lost or never taken, and move a
run whose log shows another model to that partition, through the lifecycle.

A run's log is found by the session id its telemetry names; failing that, by
the `Review run id: N` lines of the prompts the logs recorded. A log whose
first prompt names the run (a session started for it) wins over one that only
mentions it later (an agent that read the prompt file); logs recorded in
another directory than the KB are not evidence for it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from commonplace import lifecycle
from commonplace.errors import UserError
from commonplace.lifecycle.partitions import actual_model_id
from commonplace.runners.base import Adapter
from commonplace.runners.telemetry import Session, merge_telemetry
from commonplace.store.connection import Store
from commonplace.store.runs import repair_rows

REPAIRABLE_RUNNERS = ("claude-code", "codex")

_RUN_MARKER = re.compile(rb"Review run id: (\d+)")
_FIRST_ANSWER = re.compile(rb'"(?:type|role)":\s*"assistant"')


@dataclass(frozen=True)
class RunRepair:
    """What repair did, or would do, to one run."""

    review_run_id: int
    runner: str
    model_id: str
    """The run's partition after the repair."""
    session_logs: tuple[str, ...] = ()
    telemetry_updated: bool = False
    rekeyed_from: str | None = None
    unresolved: str | None = None
    """Why the partition could not be established from a log."""


@dataclass(frozen=True)
class RepairReport:
    dry_run: bool
    session_logs: int
    """How many session logs were looked at."""
    runs: tuple[RunRepair, ...]

    @property
    def scanned(self) -> int:
        return len(self.runs)

    @property
    def matched(self) -> int:
        return sum(1 for r in self.runs if r.session_logs)

    @property
    def telemetry_updated(self) -> int:
        return sum(1 for r in self.runs if r.telemetry_updated)

    @property
    def rekeyed(self) -> int:
        return sum(1 for r in self.runs if r.rekeyed_from)

    @property
    def unresolved(self) -> int:
        return sum(1 for r in self.runs if r.unresolved)


@dataclass(frozen=True)
class _Run:
    id: int
    runner: str
    model_id: str
    status: str
    batch_id: int
    runs_in_batch: int
    telemetry: dict[str, Any] | None
    batch_has_telemetry: bool
    requested_model: str
    requested_effort: str | None
    rekeyed_from: str | None


def repair_model_partitions(
    store: Store,
    adapters: Sequence[Adapter],
    *,
    kb_root: Path,
    env: Mapping[str, str],
    review_run_ids: Sequence[int] = (),
    dry_run: bool = False,
) -> RepairReport:
    """Repair the finished runs of these runners (or the runs named, whatever
    their runner label) from the session logs the adapters' CLIs keep."""
    runs = _runs(store, [a.name for a in adapters], review_run_ids)
    finder = _LogFinder(adapters, env, kb_root.resolve())
    repaired = [_repair(store, run, finder, dry_run) for run in runs]
    return RepairReport(dry_run, finder.looked_at, tuple(repaired))


def _repair(store: Store, run: _Run, finder: _LogFinder, dry_run: bool) -> RunRepair:
    if run.status == lifecycle.RunStatus.RUNNING:
        return RunRepair(run.id, run.runner, run.model_id, unresolved="still running")
    sessions = finder.sessions_for(run)
    if not sessions:
        return RunRepair(run.id, run.runner, run.model_id, unresolved="no session log found")
    rebuilt = merge_telemetry([s.telemetry.as_dict() for s in sessions])
    rebuilt["requested_model"] = run.requested_model
    rebuilt["effort"] = rebuilt.get("effort") or run.requested_effort
    telemetry = _fill(run.telemetry or {}, rebuilt)
    telemetry.update(batch_id=run.batch_id, runs_in_batch=run.runs_in_batch)
    updated = telemetry != run.telemetry
    actual = actual_model_id(telemetry, run.requested_effort)
    unresolved = None
    if actual is None:
        models = ", ".join(telemetry.get("models") or ()) or "none"
        unresolved = f"the session logs name no single model ({models})"
    elif run.rekeyed_from is not None:
        # Rekeyed when it finished, on what the runner said live; a log cannot
        # know better (a codex rollout names the model asked for, not a reroute).
        actual = None
    logs = tuple(str(s.path) for s in sessions)
    rekeyed_from = run.model_id if actual and actual != run.model_id else None
    if not dry_run and (updated or rekeyed_from):
        outcome = lifecycle.repair_run(
            store,
            run.id,
            telemetry=telemetry,
            batch_telemetry=None if run.batch_has_telemetry else rebuilt,
            actual_model_id=actual,
        )
        rekeyed_from = run.model_id if outcome.model_id != run.model_id else None
    model_id = actual if rekeyed_from and actual else run.model_id
    return RunRepair(run.id, run.runner, model_id, logs, updated, rekeyed_from, unresolved)


def _fill(existing: Mapping[str, Any], rebuilt: Mapping[str, Any]) -> dict[str, Any]:
    """The stored telemetry with its gaps filled from the rebuilt one, the
    log named among its sources when it filled any. What a run recorded live
    wins: codex's stream knows of a reroute its log lacks."""
    merged = dict(existing)
    filled = False
    for key, value in rebuilt.items():
        if key == "sources":
            continue
        if key not in merged:  # a lost document comes back whole, gaps included
            merged[key] = value
            filled = filled or value not in (None, [], {}, "")
            continue
        if value in (None, [], {}, ""):
            continue
        if key == "tokens" and isinstance(merged.get(key), dict) and isinstance(value, dict):
            tokens = dict(merged[key])
            for name, count in value.items():
                if tokens.get(name) is None and count is not None:
                    tokens[name], filled = count, True
            merged[key] = tokens
        elif merged.get(key) in (None, [], {}, ""):
            merged[key], filled = value, True
    if filled:
        sources = [*(merged.get("sources") or ()), *(rebuilt.get("sources") or ())]
        merged["sources"] = list(dict.fromkeys(sources))
    return merged


def _runs(store: Store, runners: Sequence[str], ids: Sequence[int]) -> list[_Run]:
    if not store.exists:
        raise UserError(f"no review store at {store.name}")
    with store.read() as conn:
        rows = repair_rows(conn, run_ids=ids, runners=runners)
    missing = sorted(set(ids) - {row["id"] for row in rows})
    if missing:
        raise UserError(f"no review run {', '.join(map(str, missing))} in {store.name}")
    return [
        _Run(
            row["id"],
            row["runner"],
            row["model_id"],
            row["status"],
            row["batch_id"],
            row["runs_in_batch"],
            _document(row["telemetry_json"]),
            bool(row["batch_has_telemetry"]),
            row["requested_model"],
            row["requested_effort"],
            row["rekeyed_from"],
        )
        for row in rows
    ]


def _document(text: str | None) -> dict[str, Any] | None:
    try:
        value = json.loads(text) if text else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class _LogFinder:
    """Finds and reads session logs; scans every log for run markers at most
    once, and only when some run has no usable session id."""

    def __init__(self, adapters: Sequence[Adapter], env: Mapping[str, str], kb_root: Path):
        self.adapters, self.env, self.kb_root = adapters, env, kb_root
        self._looked_at: set[Path] = set()
        self._marked: dict[int, tuple[list[tuple[Adapter, Path]], list[tuple[Adapter, Path]]]]
        self._marked = {}
        self._scanned = False
        self._read: dict[Path, Session | None] = {}

    def sessions_for(self, run: _Run) -> list[Session]:
        adapters = [a for a in self.adapters if a.name == run.runner] or list(self.adapters)
        by_id = []
        for session_id in _session_ids(run.telemetry):
            for adapter in adapters:
                path = adapter.session_log(self.env, session_id)
                session = self._session(adapter, path) if path else None
                if session is not None:
                    by_id.append(session)
                    break
        if by_id:
            return by_id
        self._scan()
        started, mentioned = self._marked.get(run.id, ([], []))
        for candidates in (started, mentioned):
            found = [
                s
                for adapter, path in candidates
                if adapter in adapters
                and (s := self._session(adapter, path)) is not None
                and self._in_kb(s)
            ]
            if found:
                return found
        return []

    @property
    def looked_at(self) -> int:
        return len(self._looked_at)

    def _session(self, adapter: Adapter, path: Path) -> Session | None:
        if path not in self._read:
            self._looked_at.add(path)
            try:
                self._read[path] = adapter.read_session(path)
            except Exception:  # one damaged log is no evidence, and no reason to stop
                self._read[path] = None
        return self._read[path]

    def _in_kb(self, session: Session) -> bool:
        if session.cwd is None:
            return True
        cwd = Path(session.cwd)
        return cwd == self.kb_root or self.kb_root in cwd.parents

    def _scan(self) -> None:
        if self._scanned:
            return
        self._scanned = True
        for adapter in self.adapters:
            for path in sorted(adapter.session_logs(self.env)):
                self._looked_at.add(path)
                first_answer, markers = _markers(path)
                for offset, run_id in markers:
                    started, mentioned = self._marked.setdefault(run_id, ([], []))
                    bucket = started if first_answer is None or offset < first_answer else mentioned
                    if (adapter, path) not in bucket:
                        bucket.append((adapter, path))


def _session_ids(telemetry: Mapping[str, Any] | None) -> list[str]:
    """The session ids a run's telemetry names, its re-asks' included."""
    if not telemetry:
        return []
    documents = [telemetry, *(c for c in telemetry.get("calls") or () if isinstance(c, dict))]
    ids = [d.get("session_id") for d in documents]
    return list(dict.fromkeys(i for i in ids if isinstance(i, str) and i))


def _markers(path: Path) -> tuple[int | None, list[tuple[int, int]]]:
    """(offset of the first answer, [(offset, run id)]) of one log, read line
    by line: JSONL escapes newlines, so no marker spans two lines."""
    first_answer: int | None = None
    markers: list[tuple[int, int]] = []
    offset = 0
    try:
        with path.open("rb") as handle:
            for line in handle:
                if first_answer is None and (answer := _FIRST_ANSWER.search(line)):
                    first_answer = offset + answer.start()
                markers.extend(
                    (offset + m.start(), int(m.group(1))) for m in _RUN_MARKER.finditer(line)
                )
                offset += len(line)
    except OSError:
        return None, []
    return first_answer, markers
