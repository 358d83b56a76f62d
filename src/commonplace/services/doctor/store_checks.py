"""Doctor's checks of the review store: can it be opened, is its schema the
one this program speaks, which partitions it holds, and which pairs were
last answered with a decision nobody could read. Nothing is written: a
store that does not exist stays so, and one that needs migrating is only
read for its version."""

from __future__ import annotations

import os
import shlex

from commonplace.config import STORE_ENV, Config
from commonplace.errors import UserError
from commonplace.kb.paths import shown
from commonplace.services.doctor.findings import OK, PROBLEM, WARNING, Finding
from commonplace.store.connection import Store
from commonplace.store.inventory import partition_counts, unknown_latest
from commonplace.store.location import masked
from commonplace.store.migrations import MIGRATIONS

CHECK = "store"
SHOWN = 10


def check_store(config: Config, db: str | os.PathLike[str] | None) -> list[Finding]:
    try:
        setting = config.store_setting(db)
        store = Store(
            config.store_target(db), root=config.kb_root, setting=setting, schema=config.schema
        )
    except UserError as exc:
        return [Finding(CHECK, PROBLEM, exc.message, f"correct the store named by {setting}")]
    with store:
        try:
            return _check(store, setting, db)
        except UserError as exc:
            return [
                Finding(
                    CHECK,
                    PROBLEM,
                    f"cannot open the review store: {exc.message}",
                    _open_fix(store, setting),
                )
            ]


def _check(store: Store, setting: str, db: str | os.PathLike[str] | None) -> list[Finding]:
    if not store.exists:
        if store.kind == "sqlite" and setting in ("--db", STORE_ENV):
            return [
                Finding(
                    CHECK,
                    PROBLEM,
                    f"no review store at {shown(store.name)} (named by {setting})",
                    "check the path; the commands that read the store refuse it",
                )
            ]
        return [
            Finding(
                CHECK,
                OK,
                f"no review store yet at {shown(store.name)}: the first review creates it",
            )
        ]
    version, known = store.version_on_disk(), len(MIGRATIONS)
    if version < known:
        flag = f" --db {shlex.quote(masked(os.fspath(db)))}" if db else ""
        return [
            Finding(
                CHECK,
                PROBLEM,
                f"review store {shown(store.name)} has schema version {version}; this program"
                f" writes version {known}",
                f"migrate it (back it up first): commonplace-review-store migrate{flag}",
            )
        ]
    if version > known:
        return [
            Finding(
                CHECK,
                PROBLEM,
                f"review store {shown(store.name)} has schema version {version}, newer than"
                f" this program understands ({known})",
                "upgrade commonplace-review to the version that wrote it",
            )
        ]
    found = [Finding(CHECK, OK, f"review store {shown(store.name)}: schema version {version}")]
    with store.read() as conn:
        partitions = partition_counts(conn)
        count, unknown = unknown_latest(conn, SHOWN)
    if partitions:
        listed = ", ".join(f"{shown(p.model_id)} ({p.accepted_pairs})" for p in partitions)
        found.append(Finding("partitions", OK, f"partitions with accepted pairs: {listed}"))
    else:
        found.append(Finding("partitions", OK, "the store holds no accepted review yet"))
    if count:
        listed = ", ".join(
            f"{shown(u.note_path)} :: {shown(u.gate_id)} [{shown(u.model_id)}, run"
            f" {u.review_run_id}]"
            for u in unknown
        )
        more = f" and {count - len(unknown)} more" if count > len(unknown) else ""
        found.append(
            Finding(
                "unknown-decisions",
                WARNING,
                f"{count} pair(s) were last reviewed with decision unknown (the reviewer's"
                f" answer could not be read): {listed}{more}",
                "they stay stale: review them again (commonplace-review-sweep), and if they"
                " come back unknown, read the runs' output for why",
            )
        )
    return found


def _open_fix(store: Store, setting: str) -> str:
    if store.kind == "postgresql":
        return (
            f"check that the server is up and reachable, the role and its password"
            f" (PGPASSWORD, ~/.pgpass), and the URL named by {setting}"
        )
    return f"check the file and the path named by {setting}; `commonplace-review-store check`"
