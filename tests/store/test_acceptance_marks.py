"""The marks that triggers keep per (partition, note): renewed by every
change to the note's acceptance log, whoever writes it, on both backends."""

from __future__ import annotations

import pytest
from helpers.store import append_ack

from commonplace.git import blob_sha
from commonplace.store import acceptance_marks, relocations
from commonplace.store.check import check_store
from commonplace.store.connection import Connection, Store

pytestmark = pytest.mark.both_backends
TEXTS = ("note one\n", "note two\n", "gate one\n", "gate two\n")
NOTE_1, NOTE_2, GATE_1, GATE_2 = (blob_sha(t.encode()) for t in TEXTS)


def ack(conn: Connection, note: str, gate: str, model: str = "m", note_sha: str = NOTE_1) -> int:
    gate_sha = GATE_1 if gate == "g/one" else GATE_2
    return append_ack(
        conn, TEXTS, note=note, gate=gate, model=model, note_sha=note_sha, gate_sha=gate_sha
    )


def marks(store: Store, model: str = "m") -> dict[str, int]:
    with store.read() as conn:
        return acceptance_marks.marks(conn, model)


def test_an_acceptance_renews_its_notes_mark_only(store: Store) -> None:
    assert marks(store) == {}
    with store.write() as conn:
        ack(conn, "a.md", "g/one")
        ack(conn, "b.md", "g/one")
    first = marks(store)
    assert set(first) == {"a.md", "b.md"}
    with store.write() as conn:
        ack(conn, "a.md", "g/two", note_sha=NOTE_2)
    second = marks(store)
    assert second["a.md"] != first["a.md"]
    assert second["b.md"] == first["b.md"]
    assert marks(store, "other") == {}


def test_a_relocation_renews_the_marks_of_both_paths(store: Store) -> None:
    with store.write() as conn:
        ack(conn, "old.md", "g/one")
        ack(conn, "new.md", "g/two")
        ack(conn, "kept.md", "g/one")
    before = marks(store)
    with store.write() as conn:
        assert relocations.move_history(conn, "old.md", "new.md")[2] == 1
    after = marks(store)
    assert after["old.md"] != before["old.md"]  # its log emptied: a summary of it is stale
    assert after["new.md"] != before["new.md"]
    assert after["kept.md"] == before["kept.md"]


def test_a_partition_rekey_renews_both_partitions(store: Store) -> None:
    with store.write() as conn:
        ack(conn, "a.md", "g/one", model="alias")
        ack(conn, "a.md", "g/one", model="actual")
    before = {m: marks(store, m)["a.md"] for m in ("alias", "actual")}
    with store.write() as conn:
        conn.execute("UPDATE acceptance_events SET model_id = 'actual' WHERE model_id = 'alias'")
    assert marks(store, "actual")["a.md"] != before["actual"]
    assert marks(store, "alias")["a.md"] != before["alias"]


def test_check_finds_a_note_without_its_mark(store: Store) -> None:
    with store.write() as conn:
        ack(conn, "a.md", "g/one")
    assert check_store(store).ok
    with store.write() as conn:
        conn.execute("DELETE FROM acceptance_marks WHERE note_path = 'a.md'")
    assert "acceptances of a.md in partition m have no mark" in check_store(store).violations
