"""The selector's per-note summaries of a partition's acceptances, kept in
the local cache between runs, always equal what the store's log says now."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from helpers.store import append_ack
from hypothesis import given, settings
from hypothesis import strategies as st

from commonplace.git import blob_sha
from commonplace.services.accepted_index import (
    Summary,
    accepted_index,
    summarize,
)
from commonplace.store import acceptances, relocations
from commonplace.store.connection import Connection, Store

NOTES = ("a.md", "b.md", "c.md", "d.md")
GATES = ("g/one", "g/two", "g/three")
MODELS = ("m", "n")
SHAS = tuple(blob_sha(f"version {i}\n".encode()) for i in range(3))

ack_op = st.tuples(
    st.just("ack"),
    st.sampled_from(NOTES),
    st.sampled_from(GATES),
    st.sampled_from(SHAS),
    st.sampled_from(SHAS),
    st.sampled_from(MODELS),
)
move_op = st.tuples(st.just("move"), st.sampled_from(NOTES), st.sampled_from(NOTES))
rekey_op = st.tuples(st.just("rekey"), st.sampled_from(MODELS), st.sampled_from(MODELS))
look_op = st.tuples(st.just("look"), st.sets(st.sampled_from(NOTES)))
op = st.one_of(ack_op, look_op, ack_op, look_op, move_op, rekey_op, st.just(("replace",)))


def add(conn: Connection, note: str, gate: str, note_sha: str, gate_sha: str, model: str) -> None:
    texts = [f"version {i}\n" for i in range(len(SHAS))]
    append_ack(conn, texts, note=note, gate=gate, model=model, note_sha=note_sha, gate_sha=gate_sha)


def expected(store: Store, model: str, scope: set[str]) -> dict[str, Summary]:
    with store.read() as conn:
        log = acceptances.latest_by_note(conn, model)
    return {p: summarize(v) for p, v in log.items() if p in scope and v}


def check(store: Store, cache: Path, scope: set[str]) -> None:
    for model in MODELS:
        index = accepted_index(store, model, sorted(scope), cache)
        found = {p: s for p, s in index.summaries.items() if s.gates}
        assert found == expected(store, model, scope)
        with store.read() as conn:
            log = acceptances.latest_by_note(conn, model)
        assert index.versions(store, model, sorted(scope)) == {
            p: v for p, v in log.items() if p in scope and v
        }


@settings(max_examples=150, deadline=None)
@given(st.lists(op, max_size=25))
def test_summaries_from_the_cache_equal_the_log(ops: list[tuple[object, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path, cache = Path(tmp) / "store.sqlite", Path(tmp) / "cache"
        store = Store(path)
        try:
            for step in ops:
                if step[0] == "ack":
                    _, note, gate, note_sha, gate_sha, model = step
                    with store.write() as conn:
                        add(conn, str(note), str(gate), str(note_sha), str(gate_sha), str(model))
                elif step[0] == "move" and step[1] != step[2]:
                    with store.write() as conn:
                        relocations.move_history(conn, str(step[1]), str(step[2]))
                elif step[0] == "rekey":
                    with store.write() as conn:
                        conn.execute(
                            "UPDATE acceptance_events SET model_id = ? WHERE model_id = ?",
                            (step[2], step[1]),
                        )
                elif step[0] == "replace":  # a new store at the same path
                    store.close()
                    for leftover in Path(tmp).glob("store.sqlite*"):
                        leftover.unlink()
                    store = Store(path)
                    with store.write() as conn:
                        add(conn, "a.md", "g/one", SHAS[0], SHAS[0], "m")
                elif step[0] == "look":
                    check(store, cache, set(step[1]))  # type: ignore[arg-type]
            check(store, cache, set(NOTES))
        finally:
            store.close()


def test_a_warm_cache_reads_only_the_notes_that_moved(tmp_path: Path) -> None:
    with Store(tmp_path / "store.sqlite") as store:
        with store.write() as conn:
            for note in NOTES:
                add(conn, note, "g/one", SHAS[0], SHAS[1], "m")
        cache = tmp_path / "cache"
        cold = accepted_index(store, "m", NOTES, cache)
        assert set(cold.read) == set(NOTES)
        assert accepted_index(store, "m", NOTES, cache).read == {}  # warm: nothing read
        with store.write() as conn:
            add(conn, "b.md", "g/two", SHAS[2], SHAS[1], "m")
        warm = accepted_index(store, "m", NOTES, cache)
        assert set(warm.read) == {"b.md"}
        assert warm.summaries["b.md"] == Summary(None, ("g/one", SHAS[1], "g/two", SHAS[1]))
        one, both = ("g/one", SHAS[1]), ("g/one", SHAS[1], "g/two", SHAS[1])
        assert warm.settled("a.md", SHAS[0], warm.set_number(one))
        assert not warm.settled("a.md", SHAS[1], warm.set_number(one))
        assert not warm.settled("a.md", SHAS[0], warm.set_number(both))
        assert not warm.settled("a.md", SHAS[0], warm.set_number(("g/two", SHAS[1])))


def test_a_damaged_cache_reads_as_empty(tmp_path: Path) -> None:
    with Store(tmp_path / "store.sqlite") as store:
        with store.write() as conn:
            add(conn, "a.md", "g/one", SHAS[0], SHAS[1], "m")
        cache = tmp_path / "cache"
        accepted_index(store, "m", ["a.md"], cache)
        (written,) = cache.iterdir()
        good = json.loads(written.read_text())
        payload = good["payload"]

        def with_payload(**changed: object) -> bytes:
            return json.dumps({**good, "payload": {**payload, **changed}}).encode()

        damaged = [
            b"",
            b"{",
            b"[]",
            b'{"kind": "accepted-index/2", "version": "0", "payload": {}}',
            with_payload(sets=1),
            with_payload(sets=[[1, 2]]),
            with_payload(sets=[payload["sets"][0], payload["sets"][0]]),
            with_payload(note_shas={"a.md": 5}),
            with_payload(note_shas={}),
            with_payload(gate_sets={"a.md": 9}),
            with_payload(gate_sets={"a.md": -1}),
            with_payload(gate_sets={"a.md": "0"}),
            with_payload(marks={"a.md": True}),
            with_payload(marks={"a.md": str(payload["marks"]["a.md"])}),
            with_payload(marks=[]),
            b"[" * 100_000,
        ]
        for raw in damaged:
            written.write_bytes(raw)
            index = accepted_index(store, "m", ["a.md"], cache)
            assert index.read == {"a.md": {"g/one": (SHAS[0], SHAS[1])}}, raw[:80]
            assert index.settled("a.md", SHAS[0], index.set_number(("g/one", SHAS[1])))
        written.unlink()
        os.mkfifo(written)  # never blocks, never trusted
        assert accepted_index(store, "m", ["a.md"], cache).read != {}


def test_without_a_cache_folder_everything_is_read(tmp_path: Path) -> None:
    with Store(tmp_path / "store.sqlite") as store:
        with store.write() as conn:
            add(conn, "a.md", "g/one", SHAS[0], SHAS[1], "m")
        for _ in range(2):
            assert set(accepted_index(store, "m", ["a.md"], None).read) == {"a.md"}
