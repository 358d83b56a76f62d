"""Helpers shared by the command-line tests: raw looks at the review store,
review texts, and the assertions every refusal must satisfy."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path
from typing import Any

STORE = "kb/reports/review-store.sqlite"
TABLES = (
    "review_batches",
    "review_runs",
    "review_run_gates",
    "gate_reviews",
    "acceptance_events",
    "snapshots",
    "model_alias_resolutions",
)

# Corpus notes with and without the `title-as-claim` trait.
CLAIM_NOTE = "kb/notes/a-derived-copy-of-recomputable-truth-must-be-checked-or-absent.md"
PLAIN_NOTE = "kb/notes/ad-hoc-prompts-extend-the-system-without-schema-changes.md"
FRONTMATTER_GATES = (
    "frontmatter/claim-strength",
    "frontmatter/description-discrimination",
    "frontmatter/title-as-claim",
    "frontmatter/title-body-alignment",
    "frontmatter/title-composability",
)
# The frontmatter gates without a trait requirement, in lens order.
UNROUTED_FRONTMATTER_GATES = (
    "frontmatter/description-discrimination",
    "frontmatter/title-body-alignment",
)

# Example-KB notes and gates.
EX_NOTE = "kb/notes/frost-dates.md"  # traits: []
EX_CLAIM_NOTE = "kb/notes/seed-packets.md"  # traits: [title-as-claim]
EX_CLARITY = ("clarity/description-repeats-title", "clarity/undefined-abbreviation")
EX_CLAIM_GATE = "claims/title-states-a-claim"  # requires_trait: title-as-claim


def store_of(kb: Path) -> Path:
    return kb / STORE


def rows(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Query the store file directly, the way people inspect it."""
    assert db.exists(), f"no store at {db}"
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def one(db: Path, sql: str, params: tuple[Any, ...] = ()) -> Any:
    found = rows(db, sql, params)
    assert len(found) == 1, found
    return found[0][0] if len(found[0]) == 1 else found[0]


def dump(db: Path) -> dict[str, list[tuple[Any, ...]]] | None:
    """Every row of every table (None when the file does not exist): for
    asserting that a refused command changed nothing at all."""
    if not db.exists():
        return None
    conn = sqlite3.connect(db)
    try:
        out = {t: sorted(map(tuple, conn.execute(f"SELECT * FROM {t}")), key=repr) for t in TABLES}
        out["user_version"] = conn.execute("PRAGMA user_version").fetchall()
        return out
    finally:
        conn.close()


def counts(db: Path) -> dict[str, int]:
    return {t: one(db, f"SELECT COUNT(*) FROM {t}") for t in TABLES}


def assert_refused(result: Any, *codes: int, mentions: str | None = None) -> str:
    """A refusal: exit code in `codes` (default 1 or 2), a line starting with
    `error:` on stderr, and no traceback anywhere. Returns the error line."""
    code = result.code if hasattr(result, "code") else result.returncode
    out = result.out if hasattr(result, "out") else result.stdout
    err = result.err if hasattr(result, "err") else result.stderr
    assert code in (codes or (1, 2)), (code, out, err)
    assert "Traceback" not in err and "Traceback" not in out, err
    assert "unexpected error" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert errors, f"no 'error:' line on stderr: {err!r}"
    if mentions is not None:
        assert any(mentions in line for line in errors), (mentions, errors)
    return errors[-1]


def review(decision: str | None, summary: str = "Reviewed the note against the gate.") -> str:
    """A gate review in the pair-protocol body shape; no result line when
    `decision` is None."""
    text = f"### Summary\n{summary}\n\n### Findings\n"
    if decision in ("WARN", "FAIL"):
        text += f"- {decision}: the title overstates what the body shows.\n"
    else:
        text += "- none\n"
    if decision is not None:
        text += f"\n## Result: {decision}\n"
    return text


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def commit_paths(kb: Path, *paths: str, message: str = "edit") -> None:
    """Commit only these paths (never the store file beside the notes)."""
    git(kb, "add", "--", *paths)
    git(kb, "commit", "-q", "-m", message, "--", *paths)


def blob(kb: Path, path: str) -> str:
    return git(kb, "hash-object", path).strip()


def head(kb: Path) -> str:
    return git(kb, "rev-parse", "HEAD").strip()


def append(kb: Path, path: str, text: str) -> None:
    with (kb / path).open("a", encoding="utf-8") as handle:
        handle.write(text)
