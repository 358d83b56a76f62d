"""A copy of the corpus reviewed through the real commands, with pass, warn
and fail reviews chosen per pair (`prepare-review-batch`, an output in the
pair grammar, `ingest-batch-output`): the store the warn-queue and report
tests read, and the helpers that build and read it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from commonplace.protocol.decisions import Finding
from commonplace.protocol.grammar import Pair, block
from commonplace.protocol.prompt import requested_pairs
from commonplace.services.current import (
    CurrentReview,
    findings_of,
    warn_queue,
)
from commonplace.workspace import open_workspace
from helpers.cli import CLAIM_NOTE, PLAIN_NOTE, Cli, prepare
from helpers.commands import Result, run_script
from helpers.db import rows, store_of
from helpers.kb import CORPUS, GIT_IDENTITY, make_git_kb, require_shared
from helpers.reviews import review_text

MODEL = "claude-opus-4-6"  # partition claude-opus-4-6 (no effort)
OTHER_MODEL = "gpt-5.5"
OTHER_MODEL_ID = "gpt-5-5"

# Corpus notes beside CLAIM_NOTE and PLAIN_NOTE.
LOOP_NOTE = "kb/notes/agent-is-a-tool-loop.md"
FOLDER = "kb/notes/agent-memory-requirements"
FOLDER_NOTE = f"{FOLDER}/create-memory-directly.md"

# Sentences copied from the notes, for findings that quote them.
CLAIM_SENTENCE = "Such a copy has exactly two valid states."
CLAIM_TITLE = "A derived copy of recomputable truth must be checked or absent"
PLAIN_SENTENCE = "We first noticed this in the KB, where it shows up cleanly."

# (note, gate) -> (decision, findings as (severity, text)): what the reviewer
# writes in the scenario most tests start from.
Plan = Mapping[tuple[str, str], tuple[str, Sequence[tuple[str, str]]]]
SCENARIO: Plan = {
    (CLAIM_NOTE, "frontmatter/claim-strength"): ("PASS", ()),
    (CLAIM_NOTE, "prose/source-residue"): (
        "WARN",
        (
            ("WARN", f'the sentence "{CLAIM_SENTENCE}" overreaches'),
            ("WARN", "the asymmetry is asserted twice"),
        ),
    ),
    (CLAIM_NOTE, "frontmatter/title-as-claim"): (
        "FAIL",
        (
            ("FAIL", f"the title “{CLAIM_TITLE}” states a rule, not a claim"),
            ("WARN", "the description hedges where the title does not"),
        ),
    ),
    (PLAIN_NOTE, "frontmatter/title-body-alignment"): (
        "FAIL",
        (("FAIL", f'"{PLAIN_SENTENCE}" is not supported by the body'),),
    ),
    (PLAIN_NOTE, "frontmatter/description-discrimination"): ("PASS", ()),
    (LOOP_NOTE, "sentence/stock-phrases"): ("WARN", ()),
    (FOLDER_NOTE, "prose/source-residue"): ("PASS", ()),
}


def review_pairs(
    cli: Cli,
    kb: Path,
    plan: Plan,
    *,
    model: str = MODEL,
    extra: Sequence[str] = (),
    summary: str = "Reviewed.",
) -> dict[str, Any]:
    """Review the plan's pairs the way an external executor does:
    `prepare-review-batch`, one block per requested pair at the batch's output
    path, `ingest-batch-output`. Every step must succeed; returns what prepare
    printed."""
    pairs = (f"{note}::{gate}" for note, gate in plan)
    payload = prepare(cli, kb, *pairs, model=model, runner="live-agent", extra=extra)
    requested = requested_pairs((kb / payload["prompt_path"]).read_text(encoding="utf-8"))
    assert sorted(requested) == sorted(Pair(*pair) for pair in plan)
    token = payload["boundary_token"]
    output = "I reviewed the requested pairs.\n\n" + "\n".join(
        block(pair, review_text(*plan[pair], summary=summary), token=token) for pair in requested
    )
    (kb / payload["bundle_output_path"]).write_text(output, encoding="utf-8")
    ingested = cli(
        "ingest-batch-output",
        "--batch-id",
        str(payload["batch_id"]),
        "--input-file",
        payload["bundle_output_path"],
        "--json",
        cwd=kb,
    )
    assert ingested.code == 0, ingested.out + ingested.err
    return payload


def run_command(name: str, *args: str, cwd: Path, stdin: str | None = None) -> Result:
    """`commonplace-<name>` as its console script: the `cli` fixture's
    signature, for fixtures wider than one test."""
    done = run_script(f"commonplace-{name}", args, cwd=cwd, stdin=stdin)
    return Result(done.returncode, done.stdout, done.stderr)


@contextmanager
def isolated(factory: pytest.TempPathFactory) -> Iterator[None]:
    """What the autouse `_isolated` gives a test, for fixtures wider than one."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in GIT_IDENTITY.items():
            patch.setenv(key, value)
        patch.delenv("COMMONPLACE_REVIEW_DB", raising=False)
        patch.setenv("HOME", str(factory.getbasetemp() / "home"))
        yield


_SCENARIO_KBS: dict[Path, Path] = {}


def scenario_kb(factory: pytest.TempPathFactory) -> Path:
    """The corpus in git with SCENARIO reviewed for MODEL, made once per
    session for the tests that only read it (they must not change it)."""
    base = factory.getbasetemp()
    if base not in _SCENARIO_KBS:
        with isolated(factory):
            kb = make_git_kb(require_shared(CORPUS), factory.mktemp("scenario") / "corpus-kb")
            review_pairs(run_command, kb, SCENARIO)
        _SCENARIO_KBS[base] = kb
    return _SCENARIO_KBS[base]


def expected_queue(plan: Plan) -> list[tuple[str, str, str, tuple[Finding, ...]]]:
    """(note, gate, decision, findings) of the plan's warn and fail reviews,
    in queue order."""
    return sorted(
        (note, gate, decision.lower(), tuple(Finding(s.lower(), t) for s, t in findings))
        for (note, gate), (decision, findings) in plan.items()
        if decision in ("WARN", "FAIL")
    )


def queue_of(kb: Path, **kwargs: Any) -> list[CurrentReview]:
    """`warn_queue` on the KB's store, through a fresh workspace."""
    with open_workspace(cwd=kb).store as store:
        return warn_queue(store, **kwargs)


def summary_of(entries: Sequence[CurrentReview]) -> list[tuple[str, str, str, tuple[Finding, ...]]]:
    return [(e.note_path, e.gate_id, e.decision, e.findings) for e in entries]


def gate_review_row(kb: Path, gate_review_id: int) -> dict[str, Any]:
    db = store_of(kb)
    columns = [c[1] for c in rows(db, "PRAGMA table_info(gate_reviews)")]
    (values,) = rows(db, "SELECT * FROM gate_reviews WHERE id = ?", (gate_review_id,))
    return dict(zip(columns, values, strict=True))


def assert_whole_row(kb: Path, entry: CurrentReview) -> None:
    """Every field of the entry comes from its one gate review, of a completed run."""
    row = gate_review_row(kb, entry.gate_review_id)
    assert (
        entry.note_path,
        entry.gate_id,
        entry.model_id,
        entry.decision,
        entry.rationale_markdown,
        entry.findings,
        entry.review_run_id,
        entry.reviewed_at,
        entry.reviewed_note_sha,
    ) == (
        row["note_path"],
        row["gate_id"],
        row["model_id"],
        row["decision"],
        row["rationale_markdown"],
        findings_of(row["findings_json"]),
        row["review_run_id"],
        row["reviewed_at"],
        row["reviewed_note_sha"],
    )
    status = rows(
        store_of(kb), "SELECT status FROM review_runs WHERE id = ?", (entry.review_run_id,)
    )
    assert status == [("completed",)]
