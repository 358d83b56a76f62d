"""Review artifacts under the reports directory (SPEC 9), named by store ids.

`bundle-reviews/review-batch-<id>/` holds the prompt, the raw output and a
manifest; `bundle-reviews/review-run-<id>/` holds the run's canonical
`bundle-output.md` and one file per gate. They are written only after the
transaction they describe has committed, each by write-then-rename, so
rewriting them is always safe and a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from commonplace.config import Config
from commonplace.errors import UserError
from commonplace.redaction import redact
from commonplace.review.protocol.grammar import gate_file_name

BUNDLE_REVIEWS = "bundle-reviews"
PROMPT = "prompt.md"
OUTPUT = "bundle-output.md"
MANIFEST = "manifest.json"


def batch_dir(config: Config, batch_id: int) -> Path:
    return config.reports_path / BUNDLE_REVIEWS / f"review-batch-{batch_id}"


def run_dir(config: Config, review_run_id: int) -> Path:
    return config.reports_path / BUNDLE_REVIEWS / f"review-run-{review_run_id}"


def kb_relative(config: Config, path: Path) -> str:
    """A path as the KB-relative POSIX string that commands report."""
    try:
        return path.relative_to(config.kb_root).as_posix()
    except ValueError:
        return str(path)


def write_text(path: Path, text: str, *, make_parent: bool = True) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if make_parent:
            path.parent.mkdir(parents=True, exist_ok=True)
        try:
            temporary.write_bytes(text.encode("utf-8"))
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None


def write_batch_files(
    config: Config, batch_id: int, *, prompt: str, manifest: Mapping[str, Any]
) -> tuple[Path, Path]:
    """The batch's prompt and manifest; (prompt path, manifest path)."""
    directory = batch_dir(config, batch_id)
    prompt_path, manifest_path = directory / PROMPT, directory / MANIFEST
    write_text(prompt_path, prompt)
    write_text(manifest_path, json.dumps(manifest, indent=2) + "\n")
    return prompt_path, manifest_path


def keep_raw_output(config: Config, batch_id: int, raw: str) -> None:
    """Keep an output ingested from elsewhere as the batch's output file, unless
    the executor already wrote one there (that one is never overwritten)."""
    path = batch_dir(config, batch_id) / OUTPUT
    if not path.exists():
        write_text(path, redact(raw))


def write_run_files(
    config: Config, review_run_id: int, document: str, texts: Sequence[tuple[str, str]]
) -> Path:
    """A completed run's per-gate texts, then its canonical document. Run ids
    never repeat, so the gate files are new files and are written in place;
    the document goes last, by rename, and its presence says the set is whole."""
    directory = run_dir(config, review_run_id)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for gate_id, text in texts:
            (directory / gate_file_name(gate_id)).write_bytes(redact(text).encode("utf-8"))
    except OSError as exc:
        raise UserError(f"cannot write {directory}: {exc.strerror or exc}") from None
    write_text(directory / OUTPUT, redact(document), make_parent=False)
    return directory


class BackgroundWriter:
    """Writes artifacts in order on one thread of its own, so that a run's
    files are written while the next run is being finalized. A write that
    fails becomes a warning: the store is the record, and the files can be
    written again from it."""

    def __init__(self) -> None:
        self.warnings: list[str] = []
        self._queue: queue.SimpleQueue[tuple[Callable[..., object], tuple[Any, ...]] | None]
        self._queue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name="artifacts", daemon=True)
        self._thread.start()

    def submit(self, write: Callable[..., object], *args: Any) -> None:
        self._queue.put((write, args))

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._queue.put(None)
        self._thread.join()

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            write, args = item
            try:
                write(*args)
            except UserError as exc:
                self.warnings.append(exc.message)
            except Exception as exc:  # never lose the other files to one surprise
                self.warnings.append(f"writing an artifact failed: {type(exc).__name__}: {exc}")
