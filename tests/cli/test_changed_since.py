"""`--changed-since REF` on the selector, the sweep, the fix queue and the
report, and `--changed-files` on the selector, on real git repositories: the
notes a range of commits touched, the notes under the gates it touched, and
refusals of revisions that are not commits."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from helpers.cli import DEMO_MODEL, append, assert_refused
from helpers.kb import EXAMPLE_KB, commit_all, git, head

FROST = "kb/notes/frost-dates.md"
SEEDS = "kb/notes/seed-packets.md"
SKETCH = "kb/notes/a-rough-sketch-beats-a-long-description-of-a-bed-layout.md"
DATE = "kb/notes/date-every-entry-before-writing-anything-else.md"
COMPOST = "kb/notes/topics/compost-readings-are-only-comparable-at-the-same-depth.md"
ALL_NOTES = {FROST, SEEDS, SKETCH, DATE, COMPOST}
# Applies to the notes with the title-as-claim trait: every example note but frost-dates.
CLAIM_GATE = "kb/instructions/review-gates/claims/title-states-a-claim.md"
MODEL = ("--model", DEMO_MODEL)


def _stale_notes(cli, kb: Path, *args: str) -> set[str]:
    result = cli("review-target-selector", *MODEL, "--json", *args, cwd=kb)
    assert result.code == 0, result.err
    return {p["note_path"] for p in result.json()}


def _three_commits(kb: Path) -> tuple[str, str]:
    """The example KB's first commit, then one commit editing frost-dates and
    one editing seed-packets; returns the ids of the first two."""
    first = head(kb)
    append(kb, FROST, "\nA second line about frost.\n")
    commit_all(kb, "frost")
    second = head(kb)
    append(kb, SEEDS, "\nA line about seeds.\n")
    commit_all(kb, "seeds")
    return first, second


def test_three_commits_give_the_notes_changed_since_the_one_named(cli, example_kb: Path) -> None:
    first, second = _three_commits(example_kb)
    assert _stale_notes(cli, example_kb, "--changed-since", first) == {FROST, SEEDS}
    assert _stale_notes(cli, example_kb, "--changed-since", second) == {SEEDS}
    assert _stale_notes(cli, example_kb, "--changed-since", "HEAD~1") == {SEEDS}
    git(example_kb, "tag", "v1", first)
    assert _stale_notes(cli, example_kb, "--changed-since", "v1") == {FROST, SEEDS}
    # Intersected with the other note options.
    assert _stale_notes(cli, example_kb, "--changed-since", first, "--note", SEEDS) == {SEEDS}
    assert _stale_notes(cli, example_kb, "--changed-since", second, "--note", FROST) == set()
    # Nothing changed: nothing to check, which --fail-on-stale does not count as a failure.
    quiet = cli(
        "review-target-selector",
        *MODEL,
        "--changed-since",
        "HEAD",
        "--fail-on-stale",
        cwd=example_kb,
    )
    assert quiet.code == 0, quiet.err
    assert "no notes changed since HEAD" in quiet.err


def test_a_changed_gate_brings_in_the_notes_it_applies_to(cli, example_kb: Path) -> None:
    first = head(example_kb)
    append(example_kb, CLAIM_GATE, "\nLook at the title only.\n")
    commit_all(example_kb, "gate")
    # Every note under the gate but frost-dates, which lacks the gate's trait.
    assert _stale_notes(cli, example_kb, "--changed-since", first) == ALL_NOTES - {FROST}
    # Scoped to another gate, the changed gate brings in nothing.
    scoped = _stale_notes(cli, example_kb, "--changed-since", first, "clarity")
    assert scoped == set()
    # A type spec is the gate file of type/note: every note of that type.
    second = head(example_kb)
    append(example_kb, "kb/types/note.md", "\nOne more rule.\n")
    commit_all(example_kb, "type")
    assert _stale_notes(cli, example_kb, "--changed-since", second) == ALL_NOTES


def test_uncommitted_renamed_deleted_and_odd_names(cli, example_kb: Path) -> None:
    first = head(example_kb)
    odd = 'kb/notes/a "quoted" note\twith tab é.md'
    shutil.copy(example_kb / FROST, example_kb / odd)
    git(example_kb, "mv", SKETCH, "kb/notes/moved.md")
    git(example_kb, "rm", "-q", DATE)
    commit_all(example_kb, "odd")
    append(example_kb, COMPOST, "\nNot committed yet.\n")  # a working-tree change counts
    found = _stale_notes(cli, example_kb, "--changed-since", first)
    assert found == {odd, "kb/notes/moved.md", COMPOST}


def test_bad_revisions_are_refused(cli, example_kb: Path, tmp_path: Path) -> None:
    for ref, says in (
        ("no-such-branch", "no such commit"),
        ("-x", "not a git revision"),
        ("HEAD:kb", "no such commit"),
        ("HEAD\nHEAD", "no such commit"),
    ):
        result = cli("review-target-selector", *MODEL, f"--changed-since={ref}", cwd=example_kb)
        assert_refused(result, 1, mentions=says)
    plain = Path(shutil.copytree(EXAMPLE_KB, tmp_path / "plain"))
    result = cli("warn-selector", "--changed-since", "HEAD", cwd=plain)
    assert_refused(result, 1, mentions="needs a git repository")


def test_kb_in_a_folder_of_its_repository(cli, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    kb = Path(shutil.copytree(EXAMPLE_KB, repo / "garden"))
    (repo / "kb" / "notes").mkdir(parents=True)  # same path outside the KB: not its note
    (repo / "kb" / "notes" / "frost-dates.md").write_text("---\na: 1\n---\n")
    git(repo, "init", "-q")
    commit_all(repo, "initial")
    first = head(repo)
    append(kb, FROST, "\nchanged\n")
    append(repo, "kb/notes/frost-dates.md", "changed\n")
    commit_all(repo, "both")
    assert _stale_notes(cli, kb, "--changed-since", first) == {FROST}


def test_changed_files_for_hooks(cli, example_kb: Path) -> None:
    def select(*files: str):
        return cli(
            "review-target-selector",
            *MODEL,
            "--fail-on-stale",
            "--changed-files",
            "--json",
            *files,
            cwd=example_kb,
        )

    # Files that are no notes, or outside the KB, are skipped; nothing left passes.
    quiet = select("README.md", "commonplace.toml", "/etc/passwd", "../x.md", "gone.md")
    assert quiet.code == 0, quiet.err
    assert "no notes changed among the files given" in quiet.err
    stale = select("README.md", FROST)
    assert stale.code == 1
    assert {p["note_path"] for p in stale.json()} == {FROST}
    # A gate among them brings in its notes; its own pairs, gate-dirty while
    # it is being committed, do not fail the hook, the others do.
    append(example_kb, CLAIM_GATE, "\nmore\n")
    gated = select(CLAIM_GATE)
    assert {p["note_path"] for p in gated.json()} == ALL_NOTES - {FROST}
    assert gated.code == 1  # the notes' other pairs were never reviewed
    refused = cli(
        "review-target-selector",
        *MODEL,
        "--changed-files",
        "--changed-since",
        "HEAD",
        FROST,
        cwd=example_kb,
    )
    assert_refused(refused, 2, mentions="--changed-files")


def test_sweep_fixes_and_report_follow_the_same_scope(cli, swept_kb: Path) -> None:
    assert _stale_notes(cli, swept_kb) == set()
    # The fix queue and the report before anything changed: only what changed counts.
    queue = cli("warn-selector", "--json", "--changed-since", "HEAD", cwd=swept_kb)
    assert queue.code == 0, queue.err
    assert queue.json() == []
    every = cli("warn-selector", "--json", cwd=swept_kb).json()
    assert every, "the stand-in reviewer leaves some warn or fail reviews"
    target = every[0]["note_path"]
    other = sorted(ALL_NOTES - {target})[0]
    append(swept_kb, other, "\nAn edit before the range.\n")
    commit_all(swept_kb, "before")
    first = head(swept_kb)
    append(swept_kb, target, "\nAn edit.\n")
    commit_all(swept_kb, "edit")
    swept = cli(
        "review-sweep",
        "--runner",
        "stand-in",
        *MODEL,
        "--json",
        "--changed-since",
        first,
        cwd=swept_kb,
    )
    assert swept.code == 0, swept.err
    assert swept.json()["completed"] >= 1
    # Only the note changed in the range was reviewed again.
    assert _stale_notes(cli, swept_kb) == {other}
    queue = cli("warn-selector", "--json", "--changed-since", first, cwd=swept_kb).json()
    assert {e["note_path"] for e in queue} == {target}
    sarif = cli(
        "review-report", "--format", "sarif", *MODEL, "--changed-since", first, cwd=swept_kb
    )
    assert sarif.code == 0, sarif.err
    uris = {
        loc["physicalLocation"]["artifactLocation"]["uri"]
        for run in json.loads(sarif.out)["runs"]
        for result in run["results"]
        for loc in result["locations"]
    }
    assert uris == {target}
    whole = cli("review-report", "--format", "sarif", *MODEL, cwd=swept_kb)
    assert len(json.loads(whole.out)["runs"][0]["results"]) > len(
        json.loads(sarif.out)["runs"][0]["results"]
    )
