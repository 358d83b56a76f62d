"""A sweep tells its caller what happens through `SweepEvents` (live text,
progress) and stops when the caller's `StopRequest` is set; the library
itself never prints and never installs a signal handler."""

from __future__ import annotations

import ast
import signal
from pathlib import Path

import pytest
from helpers.db import rows
from helpers.store import DATE, FROST, SEEDS

from commonplace.services.events import StopRequest, SweepEvents, SweepProgress
from commonplace.services.sweeps import SweepOptions, review_sweep
from commonplace.workspace import open_workspace

pytestmark = pytest.mark.both_backends

SRC = Path(__file__).resolve().parents[2] / "src" / "commonplace"
NOTES = [FROST, SEEDS, DATE]


class Collected:
    """Live text of one batch, kept in memory."""

    def __init__(self) -> None:
        self.text = ""
        self.flushes = 0

    def __call__(self, text: str) -> None:
        self.text += text

    def flush(self) -> None:
        self.flushes += 1


def test_live_text_and_progress_go_to_the_callbacks(
    example_kb: Path, db: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    ws = open_workspace(db=db, cwd=example_kb)
    live: dict[int, Collected] = {}
    progress: list[SweepProgress] = []
    events = SweepEvents(
        live_text=lambda batch_id: live.setdefault(batch_id, Collected()),
        progress=progress.append,
    )
    options = SweepOptions(runner="stand-in", model="demo", jobs=2)
    report = review_sweep(ws, ["metadata"], options, note_refs=NOTES, events=events)
    assert report.completed == 3
    assert sorted(live) == sorted(b.batch_id for b in report.batches)
    assert all(c.text and c.flushes == 1 for c in live.values())  # one call each
    assert [p.done for p in progress] == [1, 2, 3, 3]
    assert [p.final for p in progress] == [False, False, False, True]
    assert progress[-1] == SweepProgress(3, 3, 3, 0, final=True)
    assert capfd.readouterr() == ("", "")  # nothing printed by the library


def test_no_live_text_without_stream(example_kb: Path, db: Path) -> None:
    ws = open_workspace(db=db, cwd=example_kb)
    asked: list[int] = []
    events = SweepEvents(live_text=lambda batch_id: asked.append(batch_id) or Collected())
    options = SweepOptions(runner="stand-in", model="demo", stream=False)
    assert review_sweep(ws, ["metadata"], options, note_refs=[FROST], events=events).completed
    assert asked == []


def test_a_stop_request_set_before_launching_stops_the_sweep(example_kb: Path, db: Path) -> None:
    ws = open_workspace(db=db, cwd=example_kb)
    stop = StopRequest()
    stop.set()
    options = SweepOptions(runner="stand-in", model="demo", jobs=2)
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        review_sweep(ws, ["metadata"], options, note_refs=NOTES, events=SweepEvents(stop=stop))
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
    assert rows(db, "SELECT COUNT(*) FROM review_runs") == [(0,)]


def test_a_stop_request_defers_only_inside_its_block() -> None:
    stop = StopRequest()
    assert not stop.deferring
    with stop.deferred():
        assert stop.deferring
    assert not stop.deferring and not stop.is_set()


def _library_modules() -> list[Path]:
    # the guard is the main of a child process of its own, not library code
    skip = {SRC / "runners" / "guard.py"}
    return [p for p in SRC.rglob("*.py") if "cli" not in p.relative_to(SRC).parts and p not in skip]


def test_the_library_never_prints_nor_sets_signal_handlers() -> None:
    offences = []
    for path in _library_modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            call = isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            if call and node.func.id == "print":  # type: ignore[attr-defined]
                offences.append(f"{path.name}:{node.lineno} print")
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                name = f"{node.value.id}.{node.attr}"
                if name in ("sys.stdout", "sys.stderr", "signal.signal"):
                    offences.append(f"{path.name}:{node.lineno} {name}")
    assert len(_library_modules()) > 30
    assert offences == []
