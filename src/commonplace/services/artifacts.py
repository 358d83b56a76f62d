"""Review artifacts under the reports directory (SPEC 9), named by store ids.

`bundle-reviews/review-batch-<id>/` holds a manifest and the raw output;
`bundle-reviews/prompts/<sha256>.md` holds each prompt once, named by the
SHA-256 of its text (the manifest names it), so batches with the same prompt
share one file; `bundle-reviews/review-run-<id>/` holds the run's canonical
`bundle-output.md` and one file per gate. Which paths write which files is
in docs/orchestrating.md (Artifacts). They are written only after the
transaction they describe has committed, each by write-then-rename, so
rewriting them is always safe and a reader never sees half a file.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType

from commonplace import safe_files
from commonplace.config import Config
from commonplace.errors import UserError
from commonplace.protocol.grammar import gate_file_name
from commonplace.redaction import redact

BUNDLE_REVIEWS = "bundle-reviews"
PROMPT = "prompt.md"  # the per-batch prompt of batches made before prompts/
PROMPTS = "prompts"
OUTPUT = "bundle-output.md"
MANIFEST = "manifest.json"


def batch_dir(config: Config, batch_id: int) -> Path:
    return config.reports_path / BUNDLE_REVIEWS / f"review-batch-{batch_id}"


def run_dir(config: Config, review_run_id: int) -> Path:
    return config.reports_path / BUNDLE_REVIEWS / f"review-run-{review_run_id}"


def prompt_file(config: Config, sha256: str) -> Path:
    """Where the prompt whose text has this SHA-256 is kept."""
    return config.reports_path / BUNDLE_REVIEWS / PROMPTS / f"{sha256}.md"


def kb_relative(config: Config, path: Path) -> str:
    """A path as the KB-relative POSIX string that commands report."""
    try:
        return path.relative_to(config.kb_root).as_posix()
    except ValueError:
        return str(path)


def reports_setting(config: Config) -> str:
    """Where the reports folder comes from, for messages."""
    where = f"in {config.source.name}" if config.source else "by default"
    return f'reports_dir = "{config.reports_dir}" {where}'


def refuse_links(
    config: Config, *, batch_ids: Sequence[int] = (), run_ids: Sequence[int] = ()
) -> None:
    """Refuse before the store changes when an artifact folder of these
    batches and runs, or a file already in one, is a symbolic link. (The
    writes refuse links again, without a gap; this only refuses earlier.)"""
    setting = reports_setting(config)
    folders = [batch_dir(config, b) for b in batch_ids] + [run_dir(config, r) for r in run_ids]
    if batch_ids:  # the shared prompt files: a link planted at one is refused too
        folders.append(config.reports_path / BUNDLE_REVIEWS / PROMPTS)
    # without ids, only the folders every artifact goes through (not their
    # entries: one per run ever made)
    safe_files.refuse_links(config.kb_root, config.reports_path / BUNDLE_REVIEWS, setting=setting)
    for folder in folders:
        safe_files.refuse_links(config.kb_root, folder, setting=setting, entries=True)


def write_text(config: Config, path: Path, text: str, *, make_parent: bool = True) -> None:
    """Write one file under the KB whole, never through a symbolic link."""
    safe_files.write_file(
        config.kb_root,
        path,
        text.encode("utf-8"),
        setting=reports_setting(config),
        make_parents=make_parent,
    )


def write_batch_files(
    config: Config, batch_id: int, *, prompt: str | None, manifest: Mapping[str, object]
) -> tuple[Path | None, Path]:
    """The batch's manifest, and its prompt when given (kept once by content:
    `manifest["prompt_file"]` is set to where); (prompt path, manifest path)."""
    path = None if prompt is None else write_prompt(config, prompt)
    named = dict(manifest)
    named["prompt_file"] = None if path is None else kb_relative(config, path)
    directory = batch_dir(config, batch_id)
    with _folder(config, directory) as where:
        where.write(MANIFEST, (json.dumps(named, indent=2) + "\n").encode("utf-8"))
    return path, directory / MANIFEST


def write_prompt(config: Config, text: str) -> Path:
    """Keep a prompt under the SHA-256 of its text. A file already there with
    those bytes is left alone (other batches share it); one edited on disk
    is replaced, whole, by the text its name promises."""
    import hashlib  # here: an ingest writes no prompt, and hashlib costs its start

    data = text.encode("utf-8")
    sha = hashlib.sha256(data).hexdigest()
    path = prompt_file(config, sha)
    with _folder(config, path.parent) as where:
        if where.read(path.name) != data:
            where.write(path.name, data)
    return path


def keep_raw_output(config: Config, batch_id: int, raw: str) -> None:
    """Keep an output ingested from elsewhere as the batch's output file, unless
    the executor already wrote one there (that one is never overwritten)."""
    with _folder(config, batch_dir(config, batch_id)) as where:
        where.write(OUTPUT, output_bytes(raw), overwrite=False)


def output_bytes(raw: str) -> bytes:
    """A batch's output file as written from its raw output."""
    return redact(raw).encode("utf-8")


def write_run_files(
    config: Config, review_run_id: int, document: str, texts: Sequence[tuple[str, str]]
) -> Path:
    """A completed run's per-gate texts, then its canonical document, which
    goes last: its presence says the set is whole."""
    directory = run_dir(config, review_run_id)
    with _folder(config, directory) as where:
        for name, data in run_files(document, texts):
            where.write(name, data)
    return directory


def run_files(document: str, texts: Sequence[tuple[str, str]]) -> list[tuple[str, bytes]]:
    """(name, bytes) of a completed run's files, in the order they are written."""
    files = [(gate_file_name(gate_id), redact(text).encode("utf-8")) for gate_id, text in texts]
    return [*files, (OUTPUT, redact(document).encode("utf-8"))]


def _folder(config: Config, directory: Path) -> AbstractContextManager[safe_files.Folder]:
    return safe_files.folder(config.kb_root, directory, setting=reports_setting(config))


class BackgroundWriter:
    """Writes artifacts in order on one thread of its own, so that a run's
    files are written while the next run is being finalized. A write that
    fails becomes a warning: the store is the record, and the files can be
    written again from it. A write refused for a symbolic link is raised
    when the writer closes: a link where artifacts go is an attack or a
    mistake, never weather."""

    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.refused: safe_files.LinkRefused | None = None
        self._queue: queue.SimpleQueue[tuple[Callable[..., object], tuple[object, ...]] | None]
        self._queue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name="artifacts", daemon=True)
        self._thread.start()

    def submit(self, write: Callable[..., object], *args: object) -> None:
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
        if error is None and self.refused is not None:
            raise self.refused

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            write, args = item
            try:
                write(*args)
            except safe_files.LinkRefused as exc:
                self.refused = self.refused or exc
            except UserError as exc:
                self.warnings.append(exc.message)
            except Exception as exc:  # never lose the other files to one surprise
                self.warnings.append(f"writing an artifact failed: {type(exc).__name__}: {exc}")
