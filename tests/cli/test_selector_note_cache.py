"""The selector on the corpus says the same with the note cache cold, warm,
and gone; and a note edited since the last run is read again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.cli import CLAIM_NOTE, append, commit_paths, complete_run

from commonplace import local_cache
from commonplace.kb import note_cache

OPUS = "claude-opus-4-6"


@pytest.fixture(autouse=True)
def cache_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    # The corpus copy was written just now: count the racy window as over so
    # that the second run really takes its notes from the cache.
    monkeypatch.setattr(note_cache, "RACY_NS", -(10**12))


def _runs(cli, kb: Path) -> tuple[str, str]:
    as_json = cli("review-target-selector", "--all-gates", "--model", OPUS, "--json", cwd=kb)
    as_text = cli("review-target-selector", "--all-gates", "--model", OPUS, cwd=kb)
    assert as_json.code == as_text.code == 0, as_json.err + as_text.err
    return as_json.out, as_json.err + as_text.out + as_text.err


def test_selector_output_is_the_same_with_and_without_the_cache(cli, corpus_kb: Path) -> None:
    kb = corpus_kb
    complete_run(cli, kb, CLAIM_NOTE, "frontmatter", model=OPUS)
    append(kb, CLAIM_NOTE, "\nA sentence added after the review.\n")
    commit_paths(kb, CLAIM_NOTE, message="edit the reviewed note")
    cache = kb / ".git" / local_cache.FOLDER / "notes.json"
    assert not cache.exists()

    cold = _runs(cli, kb)
    written = cache.stat().st_mtime_ns
    payload = local_cache.load(cache.parent, cache.name, note_cache.KIND)
    assert isinstance(payload, dict) and CLAIM_NOTE in payload["notes"]
    notes = len(payload["notes"])
    assert notes > 200  # the corpus notes, and the files walked that are no notes

    warm = _runs(cli, kb)
    assert warm == cold
    assert cache.stat().st_mtime_ns == written  # nothing changed: not written again
    # The diff of the changed note came from its bytes, read on demand and checked.
    pairs = json.loads(warm[0])
    changed = [p for p in pairs if p["note_path"] == CLAIM_NOTE and p["reason"] == "note-changed"]
    assert changed and "+A sentence added after the review." in changed[0]["diff"]

    cache.unlink()
    assert _runs(cli, kb) == cold

    # An edit since the last run is seen, whatever the cache held.
    append(kb, CLAIM_NOTE, "\nAnd another.\n")
    edited = json.loads(_runs(cli, kb)[0])
    diff = next(p["diff"] for p in edited if p["note_path"] == CLAIM_NOTE and p.get("diff"))
    assert "+And another." in diff
