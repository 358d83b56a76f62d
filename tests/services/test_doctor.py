"""`services.doctor`: each misconfiguration is one finding that says what is
wrong and how to fix it; a clean KB has no problem; hostile input is
reported, never a crash."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from helpers.kb import commit_all, git

from commonplace.services.doctor import OK, PROBLEM, WARNING, Finding, diagnose
from commonplace.store.migrations import MIGRATIONS, sqlite_statements

GATES = "kb/instructions/review-gates"
STORE = "kb/reports/review-store.sqlite"


def problems(findings: list[Finding], check: str | None = None) -> list[Finding]:
    return [f for f in findings if f.severity == PROBLEM and check in (None, f.check)]


def only_problem(kb: Path, check: str) -> Finding:
    found = problems(diagnose(kb))
    assert [f.check for f in found] == [check], found
    assert found[0].fix
    return found[0]


def write_gate(kb: Path, name: str, text: str, *, commit: bool = True) -> None:
    path = kb / GATES / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if commit:
        commit_all(kb, f"gate {name}")


def test_the_example_kb_is_clean(example_kb: Path) -> None:
    findings = diagnose(example_kb)
    assert problems(findings) == []
    assert all(f.severity in (OK, WARNING, PROBLEM) for f in findings)
    assert [f for f in findings if f.severity == WARNING] == []
    assert any(f.message == "5 reviewable notes" for f in findings)


def test_doctor_writes_nothing_and_creates_no_store(example_kb: Path) -> None:
    before = git(example_kb, "status", "--porcelain", "--ignored")
    diagnose(example_kb)
    assert not (example_kb / STORE).exists()
    assert not (example_kb / "kb/reports").exists()
    assert git(example_kb, "status", "--porcelain", "--ignored") == before


@pytest.mark.parametrize(
    ("key", "meant"),
    [
        ("requires_trais", "requires_trait"),
        ("require_type", "requires_type"),
        ("requires-traits", "requires-trait"),
        ("requiresType", "requires_type"),
        ("reqires_type", "requires_type"),  # the loader does not catch this one
        ("applies-to", None),
    ],
)
def test_misspelled_applicability_key_names_the_key_meant(
    example_kb: Path, key: str, meant: str | None
) -> None:
    write_gate(example_kb, "clarity/narrow.md", f"---\ndescription: x\n{key}: [a]\n---\n# N\n")
    found = only_problem(example_kb, "gate-keys")
    assert f"unknown applicability key {key!r}" in found.message
    if meant:
        assert f"did you mean {meant!r}?" in found.message
        assert found.fix == f"rename it to {meant!r}"
    else:
        assert "requires_trait" in found.fix


def test_gate_with_garbage_frontmatter(example_kb: Path) -> None:
    write_gate(example_kb, "clarity/garbage.md", "---\n: : [\x00\x1b[2J\n---\nbody\n")
    found = only_problem(example_kb, "gates")
    assert "clarity/garbage" in found.message and "cannot be used" in found.message


def test_gate_that_applies_to_no_note(example_kb: Path) -> None:
    write_gate(example_kb, "clarity/niche.md", "---\nrequires_trait: [no-such-trait]\n---\n# N\n")
    found = only_problem(example_kb, "applicability")
    assert "clarity/niche applies to no note" in found.message
    assert "no-such-trait" in found.message


def test_notes_no_gate_applies_to(example_kb: Path) -> None:
    for path in (example_kb / GATES).rglob("*.md"):
        text = path.read_text().replace("---\n", "---\nrequires_trait: [rare]\n", 1)
        path.write_text(text)
    shutil.rmtree(example_kb / "kb/types")  # type/note applies to every note
    commit_all(example_kb)
    found = problems(diagnose(example_kb), "applicability")
    bare = [f for f in found if "have no gate that applies to them" in f.message]
    assert len(bare) == 1 and "kb/notes/frost-dates.md" in bare[0].message


def test_scan_root_missing_or_empty(example_kb: Path) -> None:
    (example_kb / "kb/empty").mkdir()
    (example_kb / "kb/empty/readme.txt").write_text("no notes\n")
    toml = example_kb / "commonplace.toml"
    toml.write_text('scan_roots = ["kb/notes", "kb/nowhere", "kb/empty"]\n' + toml.read_text())
    commit_all(example_kb)
    found = problems(diagnose(example_kb))
    assert [(f.check, f.message) for f in found] == [
        ("scan-roots", "scan root kb/nowhere does not exist"),
        ("scan-roots", "scan root kb/empty holds no notes"),
    ]


def test_no_notes_at_all(example_kb: Path) -> None:
    shutil.rmtree(example_kb / "kb/notes")
    commit_all(example_kb)
    found = problems(diagnose(example_kb), "scan-roots")
    assert any("no reviewable notes" in f.message for f in found)


@pytest.mark.parametrize("how", ["missing", "empty"])
def test_gates_folder_missing_or_empty(example_kb: Path, how: str) -> None:
    shutil.rmtree(example_kb / GATES)
    if how == "empty":
        (example_kb / GATES).mkdir()
    shutil.rmtree(example_kb / "kb/types")  # no type gates either
    commit_all(example_kb)
    found = problems(diagnose(example_kb), "gates")
    words = "does not exist" if how == "missing" else "holds no gates"
    assert [f.message for f in found] == [f"gates folder {GATES} {words}"]


def test_gates_folder_linked_out_of_the_kb(example_kb: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    shutil.move(example_kb / GATES, outside)
    (example_kb / GATES).symlink_to(outside)
    found = problems(diagnose(example_kb), "gates")
    assert len(found) == 1 and "outside the knowledge base" in found[0].message


def test_lens_linked_out_of_the_kb_is_a_warning(example_kb: Path, tmp_path: Path) -> None:
    outside = tmp_path / "lens"
    outside.mkdir()
    (outside / "x.md").write_text("---\ndescription: x\n---\n# X\n")
    (example_kb / GATES / "borrowed").symlink_to(outside)
    warned = [f for f in diagnose(example_kb) if f.severity == WARNING]
    assert any("borrowed is a link outside" in f.message for f in warned)


def test_dirty_gate(example_kb: Path) -> None:
    gate = example_kb / GATES / "clarity/undefined-abbreviation.md"
    gate.write_text(gate.read_text() + "\nOne more rule.\n")
    found = only_problem(example_kb, "dirty-gates")
    assert "clarity/undefined-abbreviation" in found.message
    assert f"git add {GATES}/clarity/undefined-abbreviation.md" in found.fix


def test_note_name_with_control_characters_is_escaped(example_kb: Path) -> None:
    name = example_kb / "kb/notes/evil\x1b[2Jname\n.md"
    name.write_text("---\ndescription: x\n---\n# Evil\n")
    commit_all(example_kb)
    findings = diagnose(example_kb)
    warned = [f for f in findings if f.check == "notes"]
    assert len(warned) == 1 and warned[0].severity == WARNING
    assert "\x1b" not in warned[0].message and "\n" not in warned[0].message
    assert "\\x1b[2Jname\\n.md" in warned[0].message


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("scan_root = ['kb/notes']\n", "unknown setting 'scan_root'; did you mean 'scan_roots'?"),
        (
            "[defaults]\nrunnr = 'stand-in'\n",
            "unknown key in [defaults] 'runnr'; did you mean 'runner'?",
        ),
        (
            "[runners.stand-in]\ncommand = ['python3']\ntimout = 3\n",
            "unknown key in [runners.stand-in] 'timout'; did you mean 'timeout'?",
        ),
        (
            "[pricing.m]\ninput = 1\noutput = 2\ninptu = 1.0\n",
            "unknown key in [pricing.m] 'inptu'; did you mean 'input'?",
        ),
        ("[defaults]\nzzz = 1\n", "unknown key in [defaults] 'zzz' (every"),
    ],
)
def test_unknown_settings_are_findings_with_did_you_mean(
    example_kb: Path, toml: str, expected: str
) -> None:
    (example_kb / "commonplace.toml").write_text(toml)
    commit_all(example_kb)
    found = problems(diagnose(example_kb))
    assert len(found) == 1, found
    assert found[0].check == "config" and expected in found[0].message


def test_a_bad_value_is_reported_and_the_rest_still_checked(example_kb: Path) -> None:
    (example_kb / "commonplace.toml").write_text("[defaults]\njobs = -3\n")
    commit_all(example_kb)
    findings = diagnose(example_kb)
    assert [f.message for f in problems(findings)] == [
        "commonplace.toml: [defaults] jobs must be a positive whole number"
    ]
    assert any(f.message == "5 reviewable notes" for f in findings)


def test_invalid_toml(example_kb: Path) -> None:
    (example_kb / "commonplace.toml").write_text("[defaults\n")
    [found] = diagnose(example_kb)
    assert found.severity == PROBLEM and "not valid TOML" in found.message


def test_unknown_default_runner(example_kb: Path) -> None:
    toml = example_kb / "commonplace.toml"
    toml.write_text("[defaults]\nrunner = 'stand_in'\n" + toml.read_text())
    commit_all(example_kb)
    found = only_problem(example_kb, "runners")
    assert "did you mean 'stand-in'?" in found.message


def test_configured_runner_program_missing(example_kb: Path) -> None:
    toml = example_kb / "commonplace.toml"
    toml.write_text(toml.read_text() + "\n[runners.other]\ncommand = ['no-such-program-x']\n")
    commit_all(example_kb)
    found = only_problem(example_kb, "runners")
    assert found.message.startswith("runner other: program no-such-program-x not found")


def fake_program(tmp_path: Path, body: str) -> Path:
    program = tmp_path / "bin" / "fake-claude"
    program.parent.mkdir(exist_ok=True)
    program.write_text("#!/bin/sh\n" + body)
    program.chmod(0o755)
    return program


def use_claude(kb: Path, program: Path) -> None:
    toml = kb / "commonplace.toml"
    toml.write_text(toml.read_text() + f"\n[runners.claude-code]\nbinary = '{program}'\n")
    commit_all(kb)


def test_runner_version_is_reported(example_kb: Path, tmp_path: Path) -> None:
    use_claude(example_kb, fake_program(tmp_path, 'echo "2.0.1 (Claude Code)"\n'))
    findings = diagnose(example_kb)
    assert problems(findings) == []
    assert any(f.message.endswith("fake-claude 2.0.1 (Claude Code)") for f in findings)


def test_a_hanging_runner_program_times_out(example_kb: Path, tmp_path: Path) -> None:
    from commonplace.services.doctor import runner_checks

    # The child left behind holds the output pipe open too.
    use_claude(example_kb, fake_program(tmp_path, "sleep 60 &\nsleep 60\n"))
    from commonplace.services.doctor.settings_checks import check_settings

    config, _ = check_settings(example_kb)
    assert config is not None
    started = os.times().elapsed
    found = [f for f in runner_checks.check_runners(config, timeout=0.5) if f.severity == PROBLEM]
    assert os.times().elapsed - started < 5
    assert len(found) == 1 and "did not answer within 0.5s" in found[0].message


def test_missing_store_named_by_db(example_kb: Path, tmp_path: Path) -> None:
    found = problems(diagnose(example_kb, db=tmp_path / "typo.sqlite"), "store")
    assert len(found) == 1 and "no review store at" in found[0].message
    assert not (tmp_path / "typo.sqlite").exists()


def older_store(path: Path, version: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    for migration in MIGRATIONS[:version]:
        for statement in sqlite_statements(migration):
            conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {version}")
    conn.commit()
    conn.close()


def test_a_store_that_needs_migrating_is_not_migrated(example_kb: Path) -> None:
    store = example_kb / STORE
    older_store(store, len(MIGRATIONS) - 1)
    found = only_problem(example_kb, "store")
    assert f"schema version {len(MIGRATIONS) - 1}" in found.message
    assert "commonplace-review-store migrate" in found.fix
    with sqlite3.connect(store) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) - 1


def test_a_store_newer_than_the_program(example_kb: Path) -> None:
    older_store(example_kb / STORE, len(MIGRATIONS))
    with sqlite3.connect(example_kb / STORE) as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    found = only_problem(example_kb, "store")
    assert "newer than this program" in found.message and "upgrade" in found.fix


def test_a_store_that_is_no_database(example_kb: Path) -> None:
    (example_kb / STORE).parent.mkdir(parents=True)
    (example_kb / STORE).write_bytes(b"not a database at all" * 100)
    found = only_problem(example_kb, "store")
    assert "cannot open the review store" in found.message


def test_a_server_store_that_cannot_be_reached_is_masked(example_kb: Path) -> None:
    pytest.importorskip("psycopg")
    url = "postgresql://someone:s3cret-pass@127.0.0.1:1/nothing"
    found = problems(diagnose(example_kb, db=url), "store")
    assert len(found) == 1
    assert "s3cret-pass" not in found[0].message + found[0].fix
    assert "***" in found[0].message and "server" in found[0].fix


def test_every_bad_setting_is_reported(example_kb: Path) -> None:
    (example_kb / "commonplace.toml").write_text(
        'scan_roots = ["../../etc"]\nrunners = 5\n[defaults]\ntimeout = "x"\n'
    )
    commit_all(example_kb)
    found = problems(diagnose(example_kb))
    assert [f.message.split(": ", 1)[1] for f in found] == [
        "scan_roots points outside the knowledge base: ../../etc",
        "[runners.<name>] entries must be tables",
        "[defaults] timeout must be a positive number of seconds",
    ]


def test_a_gate_named_with_control_characters(example_kb: Path) -> None:
    write_gate(example_kb, "clarity/ev\x1bil.md", "---\ndescription: x\n---\n# E\n")
    found = only_problem(example_kb, "gates")
    assert "\x1b" not in found.message and "ev\\x1bil" in found.message
