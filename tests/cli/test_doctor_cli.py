"""`commonplace doctor`: clean on the example KB and the corpus; each
misconfiguration is reported with its fix and exit status 1; `--json`."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from helpers.cli import EX_NOTE, create_run, finalize, write_gate_review
from helpers.commands import run_script
from helpers.kb import commit_all
from helpers.reviews import review

from commonplace.store.migrations import MIGRATIONS

GATE = "clarity/undefined-abbreviation"
FINDING_KEYS = ["check", "severity", "message", "fix"]


def test_clean_on_the_example_kb(cli, example_kb: Path) -> None:
    done = cli("doctor", cwd=example_kb)
    assert done.code == 0, done.out + done.err
    assert done.out.splitlines()[-1] == "doctor: nothing is wrong, 0 warning(s)"
    assert "runner stand-in: python3 found" in done.out
    assert done.err == ""


def test_json_shape(cli, example_kb: Path) -> None:
    done = cli("doctor", "--json", cwd=example_kb / "kb/notes")  # from a folder inside
    assert done.code == 0
    payload = done.json()
    assert list(payload) == ["ok", "problems", "warnings", "findings"]
    assert payload["ok"] is True and payload["problems"] == payload["warnings"] == 0
    for finding in payload["findings"]:
        assert list(finding) == FINDING_KEYS
        assert finding["severity"] in ("ok", "warning", "problem")
        assert all(isinstance(v, str) for v in finding.values())
    checks = {f["check"] for f in payload["findings"]}
    assert {"scan-roots", "gates", "store", "runners"} <= checks


def test_clean_on_the_corpus(cli, corpus_kb: Path) -> None:
    started = time.monotonic()
    done = cli("doctor", "--json", cwd=corpus_kb)
    elapsed = time.monotonic() - started
    assert done.code == 0, done.out
    messages = [f["message"] for f in done.json()["findings"]]
    assert "285 reviewable notes" in messages
    assert "48 usable gates" in messages
    assert elapsed < 30  # one pass over the notes; measured ~0.2 s alone


def test_a_misconfiguration_exits_1_with_the_fix(cli, example_kb: Path) -> None:
    gate = example_kb / "kb/instructions/review-gates/clarity/narrow.md"
    gate.write_text("---\nrequires_trais: [x]\n---\n# Narrow\n")
    commit_all(example_kb)
    done = cli("doctor", cwd=example_kb)
    assert done.code == 1
    assert "problem  gate-keys: gate clarity/narrow: unknown applicability key" in done.out
    assert "did you mean 'requires_trait'?" in done.out
    assert "fix: rename it to 'requires_trait'" in done.out
    assert done.out.splitlines()[-1] == "doctor: 1 problem(s), 0 warning(s)"
    payload = cli("doctor", "--json", cwd=example_kb).json()
    assert payload["ok"] is False and payload["problems"] == 1


def test_unknown_keys_in_the_settings_do_not_stop_doctor(cli, example_kb: Path) -> None:
    toml = example_kb / "commonplace.toml"
    toml.write_text("[defaults]\nmodle = 'demo'\n" + toml.read_text())
    commit_all(example_kb)
    assert cli("review-target-selector", "--model", "demo", cwd=example_kb).code == 1
    done = cli("doctor", "--json", cwd=example_kb)
    assert done.code == 1
    [problem] = [f for f in done.json()["findings"] if f["severity"] == "problem"]
    assert "'modle'; did you mean 'model'?" in problem["message"]


@pytest.mark.both_backends
def test_partitions_and_unknown_decisions(cli, example_kb: Path, backend: str) -> None:
    run_id = create_run(cli, example_kb, EX_NOTE, "clarity", model="m")["review_run_id"]
    texts = {"clarity/description-repeats-title": review("PASS"), GATE: review(None)}
    for gate, text in texts.items():
        assert write_gate_review(cli, example_kb, run_id, gate, stdin=text).code == 0
    assert finalize(cli, example_kb, run_id).code == 0
    done = cli("doctor", "--json", cwd=example_kb)
    assert done.code == 0, done.out  # a warning, not a problem
    found = {f["check"]: f for f in done.json()["findings"]}
    assert found["partitions"]["message"] == "partitions with accepted pairs: m (1)"
    unknown = found["unknown-decisions"]
    assert unknown["severity"] == "warning"
    assert "1 pair(s) were last reviewed with decision unknown" in unknown["message"]
    assert f"{EX_NOTE} :: {GATE} [m, run {run_id}]" in unknown["message"]
    assert found["store"]["message"].endswith(f": schema version {len(MIGRATIONS)}")
    assert "commonplace-test" not in done.out  # the test server's password


def test_unreachable_server_store_is_masked(cli, example_kb: Path) -> None:
    pytest.importorskip("psycopg")
    done = cli("doctor", "--db", "postgresql://me:hunter2-x@127.0.0.1:1/kb", cwd=example_kb)
    assert done.code == 1
    assert "hunter2-x" not in done.out + done.err
    assert "problem  store: cannot open the review store" in done.out


def test_a_hanging_runner_does_not_hang_doctor(example_kb: Path, tmp_path: Path) -> None:
    fake = tmp_path / "claude"
    fake.write_text("#!/bin/sh\nsleep 120 &\nexec sleep 120\n")
    fake.chmod(0o755)
    toml = example_kb / "commonplace.toml"
    toml.write_text(toml.read_text() + f"\n[runners.claude-code]\nbinary = '{fake}'\n")
    commit_all(example_kb)
    started = time.monotonic()
    done = run_script("commonplace", ["doctor"], cwd=example_kb)
    assert time.monotonic() - started < 30
    assert done.returncode == 1, done.stdout + done.stderr
    assert "did not answer within 5s" in done.stdout


@pytest.mark.both_backends
def test_a_swept_store_is_read_not_written(cli, swept_kb: Path, backend: str) -> None:
    from helpers.db import dump, store_of

    before = dump(store_of(swept_kb))
    done = cli("doctor", "--json", cwd=swept_kb)
    assert done.code == 0, done.out
    found = {f["check"]: f["message"] for f in done.json()["findings"]}
    assert found["partitions"].startswith("partitions with accepted pairs: demo-")
    assert "unknown-decisions" not in found
    assert dump(store_of(swept_kb)) == before


def test_outside_any_kb(cli, tmp_path: Path) -> None:
    done = cli("doctor", "--json", cwd=tmp_path)
    assert done.code == 1
    [finding] = done.json()["findings"]
    assert "no knowledge base found" in finding["message"] and finding["fix"]
