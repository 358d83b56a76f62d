"""Helpers shared by the command-line tests: the corpus and example-KB notes they
name, review texts, the assertions every refusal must satisfy, and the create /
write / finalize steps most tests take through the `cli` fixture."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

from commonplace.protocol.grammar import Pair
from commonplace.protocol.prompt import requested_pairs
from helpers.commands import Result
from helpers.db import one, store_of
from helpers.kb import git
from helpers.reviews import review

Cli = Callable[..., Result]

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

DEMO_MODEL = "demo-model"
# The runner and model of the example-KB runs, as `create-review-run` options.
CREATE = ("--runner", "live-agent", "--model", DEMO_MODEL)


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


def commit_paths(kb: Path, *paths: str, message: str = "edit") -> None:
    """Commit only these paths (never the store file beside the notes)."""
    git(kb, "add", "--", *paths)
    git(kb, "commit", "-q", "-m", message, "--", *paths)


def blob(kb: Path, path: str) -> str:
    return git(kb, "hash-object", path).strip()


def append(kb: Path, path: str, text: str) -> None:
    with (kb / path).open("a", encoding="utf-8") as handle:
        handle.write(text)


# --- the split path through the `cli` fixture ------------------------------------------


def create_review_run(
    cli: Cli, kb: Path, note: str, *gates: str, model: str = DEMO_MODEL, extra: Sequence[str] = ()
) -> Result:
    """`create-review-run` of `gates` on `note` with the live-agent runner, run from `kb`."""
    return cli(
        "create-review-run",
        note,
        *gates,
        "--runner",
        "live-agent",
        "--model",
        model,
        *extra,
        cwd=kb,
    )


def create_run(
    cli: Cli, kb: Path, note: str, *gates: str, model: str = DEMO_MODEL, extra: Sequence[str] = ()
) -> dict[str, Any]:
    """`create_review_run` with `--json`; asserts it succeeded and returns its payload."""
    result = create_review_run(cli, kb, note, *gates, model=model, extra=(*extra, "--json"))
    assert result.code == 0, result.err
    return cast(dict[str, Any], result.json())


def create_run_id(cli: Cli, kb: Path, note: str, *gates: str) -> int:
    """A running run of `gates` on `note` for demo-model; returns its id."""
    return int(create_run(cli, kb, note, *gates)["review_run_id"])


def running_run(cli: Cli, kb: Path) -> int:
    """A running run of the clarity lens on EX_NOTE (example KB); returns its id."""
    return create_run_id(cli, kb, EX_NOTE, "clarity")


def write_gate_review(
    cli: Cli, kb: Path, run_id: int | str, gate: str, *extra: str, stdin: str | None = None
) -> Result:
    """`write-gate-review` of one gate of a run, run from `kb`."""
    return cli(
        "write-gate-review",
        "--review-run-id",
        str(run_id),
        "--gate",
        gate,
        *extra,
        cwd=kb,
        stdin=stdin,
    )


def write_review(
    cli: Cli, kb: Path, run_id: int | str, gate: str, decision: str | None = "PASS"
) -> Result:
    """`write-gate-review` with `review(decision)` on stdin."""
    return write_gate_review(cli, kb, run_id, gate, stdin=review(decision))


def write_reviews(
    cli: Cli,
    kb: Path,
    run_id: int | str,
    gates: Sequence[str],
    decisions: Sequence[str | None] | None = None,
) -> None:
    """Write a review of each gate (PASS unless `decisions` gives one per gate);
    each write must succeed."""
    if decisions is None:
        decisions = ["PASS"] * len(gates)
    for gate, decision in zip(gates, decisions, strict=True):
        done = write_review(cli, kb, run_id, gate, decision)
        assert done.code == 0, done.err


def finalize(cli: Cli, kb: Path, run_id: int | str, *extra: str) -> Result:
    """`finalize-review-run` of a run, run from `kb`."""
    return cli("finalize-review-run", "--review-run-id", str(run_id), *extra, cwd=kb)


def complete_run(
    cli: Cli,
    kb: Path,
    note: str,
    *gates: str,
    model: str = DEMO_MODEL,
    extra: Sequence[str] = (),
    decisions: Sequence[str | None] | None = None,
    final: Sequence[str] = (),
) -> tuple[dict[str, Any], Result]:
    """Create a run, write a review of each of its gates (PASS unless
    `decisions` says otherwise) and finalize it with the `final` options;
    every step must succeed. Returns the create payload and the finalize result."""
    created = create_run(cli, kb, note, *gates, model=model, extra=extra)
    write_reviews(cli, kb, created["review_run_id"], created["gate_ids"], decisions)
    done = finalize(cli, kb, created["review_run_id"], *final)
    assert done.code == 0, done.out + done.err
    return created, done


def completed_run(cli: Cli, kb: Path, decisions: Sequence[str | None] = ("PASS", "PASS")) -> int:
    """A completed run of the clarity lens on EX_NOTE (example KB), its two
    gates reviewed with `decisions`; returns its id."""
    created, _ = complete_run(cli, kb, EX_NOTE, "clarity", decisions=decisions)
    return int(created["review_run_id"])


def prepare(
    cli: Cli,
    kb: Path,
    *pairs: str,
    model: str = "demo",
    runner: str = "claude-workflow",
    extra: Sequence[str] = (),
    cwd: Path | None = None,
) -> dict[str, Any]:
    """`prepare-review-batch PAIRS --json` run from `cwd` (default `kb`), which
    must succeed; its payload. `demo` is the example KB's alias of demo-reviewer-1."""
    runner_model = ("--runner", runner, "--model", model)
    result = cli("prepare-review-batch", *pairs, *runner_model, *extra, "--json", cwd=cwd or kb)
    assert result.code == 0, result.err
    return cast(dict[str, Any], result.json())


def prompt_pairs(kb: Path, payload: dict[str, Any]) -> list[Pair]:
    """The pairs the prompt of a prepared batch or a created run requests."""
    return requested_pairs((kb / payload["prompt_path"]).read_text(encoding="utf-8"))


def acceptances(kb: Path) -> int:
    """How many acceptance events the KB's store holds."""
    return int(one(store_of(kb), "SELECT COUNT(*) FROM acceptance_events"))


def stale_pairs(cli: Cli, kb: Path, *args: str) -> list[tuple[str, str, str]]:
    """`review-target-selector ... --json` run from `kb`, which must succeed:
    (note, gate, reason) of each stale pair."""
    result = cli("review-target-selector", *args, "--json", cwd=kb)
    assert result.code == 0, result.err
    pairs = cast(list[dict[str, str]], result.json())
    return [(p["note_path"], p["gate_id"], p["reason"]) for p in pairs]
