"""Large listings without building them (issue 17 item 3): a dry run's
forecast measures its prompts instead of rendering them, to the same
figures; its summary counts by lens, gate, note and stale reason; `--list`
and `--json` name every batch; and the selector's streamed JSON is the
document it always was."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers.cli import CLAIM_NOTE, append, commit_paths, complete_run
from helpers.commands import Result

from commonplace.protocol.prompt_size import PromptSizer
from commonplace.services import planned
from commonplace.services.selector import select_targets
from commonplace.services.sweeps import SweepOptions, review_sweep
from commonplace.workspace import open_workspace

Cli = Callable[..., Result]
STAND_IN = ("--runner", "stand-in", "--model", "demo")
SONNET = SweepOptions(runner="anthropic-api", model="claude-sonnet-4-5", dry_run=True)


def _sweep_json(cli: Cli, kb: Path, *args: str) -> dict[str, Any]:
    done = cli("review-sweep", *args, "--dry-run", "--json", cwd=kb)
    assert done.code == 0, done.err
    payload: dict[str, Any] = json.loads(done.out)
    return payload


@pytest.mark.parametrize("which", ["example", "corpus"])
def test_measured_prompts_are_the_rendered_ones(
    which: str, example_kb: Path, corpus_kb: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kb = example_kb if which == "example" else corpus_kb
    monkeypatch.chdir(kb)
    report = review_sweep(open_workspace(), [], SONNET)
    batches = report.planned
    assert len(batches) > (5 if which == "example" else 1000)
    sizes = list(batches.sizes())
    rendered = list(batches.prompts())
    assert len(sizes) == len(rendered) == len(batches)
    keys: dict[Any, bytes] = {}
    for size, prompt in zip(sizes, rendered, strict=True):
        assert size.chars == prompt.chars
        assert size.pairs == prompt.pairs
        assert size.cache_points == prompt.cache_points
        for point in size.cache_points:  # the same prefixes share a key, and only they
            digest = prompt.prefix_key(point)
            assert keys.setdefault(size.prefix_key(point), digest) == digest  # type: ignore[arg-type]
    assert len(set(keys.values())) == len(keys)
    # and the forecast from either is the same
    ws = open_workspace()
    runner = report.forecast.runner if report.forecast else None
    assert runner is not None
    from commonplace.runners.pricing import PriceTable
    from commonplace.services.forecast import Forecaster

    prices = PriceTable(ws.config.pricing)
    measured = Forecaster(ws.store, runner, prices, sizes).total()
    from_text = Forecaster(ws.store, runner, prices, rendered).total()
    assert measured == from_text


def test_a_sizer_refuses_what_the_renderer_refuses() -> None:
    from commonplace.errors import UserError
    from commonplace.protocol.prompt import PromptGate, PromptNote

    gates = {"a/b": PromptGate("a/b", "# B\n")}
    bad = PromptNote(0, "kb/notes/x :: y.md", "text", ("a/b",))
    with pytest.raises(UserError, match="cannot be named in a pair block"):
        PromptSizer().size([bad], gates)
    with pytest.raises(UserError, match="no definition given for gate"):
        PromptSizer().size([PromptNote(0, "kb/notes/x.md", "t", ("c/d",))], gates)


def test_the_summary_counts_by_lens_gate_note_and_reason(cli: Cli, example_kb: Path) -> None:
    payload = _sweep_json(cli, example_kb, *STAND_IN)
    counts, forecast, batches = payload["counts"], payload["forecast"], payload["batches"]
    pairs = forecast["pairs"]
    assert sum(v["pairs"] for v in counts["by_lens"].values()) == pairs
    assert sum(v["batches"] for v in counts["by_lens"].values()) == forecast["batches"]
    assert sum(counts["by_gate"].values()) == pairs
    assert counts["by_reason"] == {"missing-review": pairs}
    by_gate = Counter(g for b in batches for g in b["gates"])
    assert dict(by_gate) == counts["by_gate"]
    per_note = Counter()  # type: Counter[str]
    for b in batches:
        per_note[b["notes"][0]] += b["pairs"]
    assert counts["pairs_per_note"] == {
        "fewest": min(per_note.values()),
        "most": max(per_note.values()),
    }
    text = cli("review-sweep", *STAND_IN, "--dry-run", cwd=example_kb)
    assert text.code == 0, text.err
    lines = text.out.splitlines()
    assert lines[1] == "by lens:"
    for lens, row in counts["by_lens"].items():
        assert any(
            line.split()
            == [lens, f"{row['pairs']:,}", "pairs", "in", f"{row['batches']:,}"]
            + (["batch"] if row["batches"] == 1 else ["batches"])
            for line in lines
        ), lens
    assert f"stale: {pairs:,} missing-review" in lines
    assert any(line.startswith(f"by gate: {len(by_gate)} gates, from ") for line in lines)
    assert f"by note: {min(per_note.values())} to {max(per_note.values())} pairs a note" in lines
    assert "batch 1:" not in text.out  # the summary lists no batch


def test_after_a_review_the_reasons_split(cli: Cli, corpus_kb: Path) -> None:
    complete_run(cli, corpus_kb, CLAIM_NOTE, "frontmatter", model="demo")
    append(corpus_kb, CLAIM_NOTE, "\nAn edit after the review.\n")
    commit_paths(corpus_kb, CLAIM_NOTE, message="edit")
    payload = _sweep_json(
        cli, corpus_kb, "frontmatter", "--runner", "anthropic-api", "--model", "demo"
    )
    reasons = payload["counts"]["by_reason"]
    assert reasons["note-changed"] == sum(
        1 for b in payload["batches"] if b["notes"] == [CLAIM_NOTE] for _ in b["gates"]
    )
    assert sum(reasons.values()) == payload["forecast"]["pairs"]


def test_list_streams_one_line_per_batch_then_the_summary(cli: Cli, example_kb: Path) -> None:
    payload = _sweep_json(cli, example_kb, *STAND_IN)
    done = cli("review-sweep", *STAND_IN, "--dry-run", "--list", cwd=example_kb)
    assert done.code == 0, done.err
    lines = done.out.splitlines()
    listed = [line for line in lines if line.startswith("batch ")]
    assert len(listed) == len(payload["batches"])
    for number, (line, batch) in enumerate(zip(listed, payload["batches"], strict=True), 1):
        assert line.startswith(
            f"batch {number}: {batch['notes'][0]}: {', '.join(batch['gates'])} ("
        )
        assert f"{batch['prompt_chars']:,} characters" in line
    assert lines.index(listed[-1]) < next(
        i for i, x in enumerate(lines) if x.startswith("dry run:")
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--list",), "error: --list goes with --dry-run"),
        (("--dry-run", "--list", "--show-prompts"), "error: --list or --show-prompts, not both"),
    ],
)
def test_list_misuse_is_refused(
    cli: Cli, example_kb: Path, args: tuple[str, ...], message: str
) -> None:
    done = cli("review-sweep", *STAND_IN, *args, cwd=example_kb)
    assert done.code == 2 and message in done.err and "Traceback" not in done.err
    assert not (example_kb / "kb/reports").exists()


def test_the_summary_renders_no_prompt(
    cli: Cli, example_kb: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The forecast only measures: rendering (what made a 10,000-note dry run
    take most of a minute) is not reached without --show-prompts."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a dry run summary rendered a prompt")

    monkeypatch.setattr(planned, "render_batch_prompt", refuse)
    for more in ((), ("--json",), ("--list",)):
        done = cli("review-sweep", *STAND_IN, "--dry-run", *more, cwd=example_kb)
        assert done.code == 0, done.err


def _old_document(kb: Path, model: str) -> list[dict[str, Any]]:
    """The selector's answer as one `json.dumps` of a list would give it."""
    selection = select_targets(open_workspace(cwd=kb), gate_refs=[], model=model, include_diff=True)
    rows: list[dict[str, Any]] = []
    for note in selection.stale:
        for gate in note.gates:
            row = {
                "note_path": note.note_path,
                "gate_id": gate.gate_id,
                "reason": gate.reason.value,
            }
            if gate.diff is not None:
                row["diff"] = gate.diff
            rows.append(row)
    return rows + [u.as_json() for u in selection.unreviewable]


@pytest.mark.parametrize("which", ["example", "corpus"])
def test_streamed_selector_json_is_the_old_document(
    cli: Cli, which: str, example_kb: Path, corpus_kb: Path
) -> None:
    kb = example_kb if which == "example" else corpus_kb
    if which == "corpus":  # with a diff in it
        complete_run(cli, kb, CLAIM_NOTE, "frontmatter", model="demo")
        append(kb, CLAIM_NOTE, '\nA "quoted" edit \\ with\ta tab.\n')
        commit_paths(kb, CLAIM_NOTE, message="edit")
    done = cli("review-target-selector", "--model", "demo", "--json", cwd=kb)
    assert done.code == 0, done.err
    expected = _old_document(kb, "demo")
    assert json.loads(done.out) == expected
    assert len(expected) > 10
    if which == "corpus":
        assert any("diff" in row for row in expected)


def test_ack_many_accepts_everything_or_nothing(cli: Cli, example_kb: Path) -> None:
    from commonplace.errors import UserError
    from commonplace.kb.notes import note_facts
    from commonplace.services.ack import ack_many
    from commonplace.services.selector import gate_scope, note_scope

    ws = open_workspace(cwd=example_kb)
    git = ws.git_state()
    gates = gate_scope(ws, []).gates
    notes = note_scope(ws, git, [], False).notes
    model_id = ws.partition("demo", None).model_id
    wrong = [(n, gates) for n in notes]  # some gates do not apply to some notes
    with pytest.raises(UserError, match="gates that do not apply"):
        ack_many(ws.store, git, wrong, model_id=model_id)
    assert _old_document(example_kb, "demo")[0]["reason"] == "missing-review"  # none written
    right = [(n, [g for g in gates if g.applies_to(note_facts(n))]) for n in notes]
    assert ack_many(ws.store, git, right, model_id=model_id) == sum(len(g) for _, g in right)
    done = cli("review-target-selector", "--model", "demo", "--json", cwd=example_kb)
    assert done.code == 0, done.err
    assert [row for row in json.loads(done.out) if "gate_id" in row] == []
