"""`review-store artifacts` and `prune-artifacts`: the files under
`bundle-reviews/` that the store can write again, written again or removed.

What the store can regenerate, byte for byte: a completed run's folder (its
canonical document and gate texts) and a batch's output file (its raw
output). Prompts (the store keeps only their SHA-256) and manifests (the
skipped pairs are not stored) cannot be, so they are never removed. A file
is removed only when its bytes are exactly what regenerating it would write,
and never for a batch with a run still running (its output file may be an
agent's input waiting to be ingested). Nothing outside the reports folder is
touched and no symbolic link is followed or removed.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from commonplace import safe_files
from commonplace.config import Config
from commonplace.errors import UserError
from commonplace.lifecycle import RunStatus
from commonplace.services import artifacts
from commonplace.services.scope import ScopedRun, load_batch, runs_by_id
from commonplace.store.batches import batch_output, batch_prompt_sha
from commonplace.store.connection import Store
from commonplace.store.reviews import review_texts
from commonplace.store.runs import stored_document
from commonplace.workspace import Workspace

_RUN = re.compile(r"review-run-([1-9][0-9]{0,17})")
_BATCH = re.compile(r"review-batch-([1-9][0-9]{0,17})")


@dataclass
class Regenerated:
    written: list[str] = field(default_factory=list)  # KB-relative paths
    unchanged: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what could not be written, and why


@dataclass
class Pruned:
    removed: list[str] = field(default_factory=list)
    bytes_freed: int = 0
    kept: int = 0  # files left because the store cannot write them again


def artifact_bytes(config: Config) -> int:
    """The bytes of every regular file under `bundle-reviews/` (links not followed)."""
    total = 0
    for folder, _, names in os.walk(config.reports_path / artifacts.BUNDLE_REVIEWS):
        for name in names:
            with suppress(OSError):  # removed meanwhile, or not empty after all
                info = os.lstat(os.path.join(folder, name))
                if stat.S_ISREG(info.st_mode):
                    total += info.st_size
    return total


def regenerate(ws: Workspace, *, run_ids: list[int], batch_ids: list[int]) -> Regenerated:
    """Write again the files of these runs, or of these batches and their
    runs, from the store. A run's files are rewritten when they differ (the
    store is the record); a batch's output file already there is left as it
    is (it may be the executor's or the agent's own)."""
    if not ws.store.exists:
        raise UserError(f"no review store at {ws.store.name}")
    found = runs_by_id(ws.store, run_ids)
    absent = [str(i) for i in dict.fromkeys(run_ids) if i not in found]
    if absent:
        raise UserError(f"review run {', '.join(absent)} not found")
    scopes = {batch_id: load_batch(ws.store, batch_id) for batch_id in dict.fromkeys(batch_ids)}
    runs = [found[i] for i in dict.fromkeys(run_ids)]
    runs += [run for scope in scopes.values() for run in scope if run.review_run_id not in found]
    artifacts.refuse_links(
        ws.config, batch_ids=list(scopes), run_ids=[r.review_run_id for r in runs]
    )
    done = Regenerated()
    for batch_id in scopes:
        _regenerate_batch(ws, batch_id, done)
    for run in runs:
        _regenerate_run(ws, run, done)
    return done


def _regenerate_batch(ws: Workspace, batch_id: int, done: Regenerated) -> None:
    config = ws.config
    with ws.store.read() as conn:
        raw, sha = batch_output(conn, batch_id), batch_prompt_sha(conn, batch_id)
    path = artifacts.batch_dir(config, batch_id) / artifacts.OUTPUT
    if raw is None:
        done.notes.append(f"review batch {batch_id} has no output in the store")
    else:
        data = artifacts.output_bytes(raw)
        with _made(config, path.parent) as where:
            old = where.read(path.name)
            if old is None:
                where.write(path.name, data)
                done.written.append(artifacts.kb_relative(config, path))
            elif old == data:
                done.unchanged.append(artifacts.kb_relative(config, path))
            else:
                done.notes.append(
                    f"{artifacts.kb_relative(config, path)} differs from the stored output;"
                    " left as it is (it is the executor's or agent's own file)"
                )
    if sha is not None:
        prompt = artifacts.prompt_file(config, sha)
        shown = artifacts.kb_relative(config, prompt)
        with _existing(config, prompt.parent) as where:
            kept = where.read(prompt.name) if where is not None else None
        if kept is None:
            done.notes.append(
                f"review batch {batch_id}: its prompt is not kept and cannot be written again"
                f" (the store has only its SHA-256, {sha})"
            )
        elif _sha256(kept) != sha:
            done.notes.append(f"{shown} was edited: it no longer hashes to its name")


def _regenerate_run(ws: Workspace, run: ScopedRun, done: Regenerated) -> None:
    config = ws.config
    expected = _run_files(ws.store, run)
    if expected is None:
        done.notes.append(f"review run {run.review_run_id} is {run.status}: it has no files")
        return
    directory = artifacts.run_dir(config, run.review_run_id)
    with _made(config, directory) as where:
        for name, data in expected:  # the document last, as it is first written
            shown = artifacts.kb_relative(config, directory / name)
            if where.read(name) == data:
                done.unchanged.append(shown)
            else:
                where.write(name, data)
                done.written.append(shown)


def _run_files(store: Store, run: ScopedRun) -> list[tuple[str, bytes]] | None:
    if run.status is not RunStatus.COMPLETED:
        return None
    with store.read() as conn:
        document = stored_document(conn, run.review_run_id)
        texts = review_texts(conn, run.review_run_id)
    return None if not document else artifacts.run_files(document, texts)


def prune(ws: Workspace, *, dry_run: bool) -> Pruned:
    """Remove the run folders' files and batch output files that the store
    can write again exactly (see the module's docstring)."""
    config = ws.config
    root = config.reports_path / artifacts.BUNDLE_REVIEWS
    setting = artifacts.reports_setting(config)
    safe_files.refuse_links(config.kb_root, root, setting=setting, entries=True)
    pruned = Pruned()
    if not root.is_dir() or not ws.store.exists:
        return pruned
    names = sorted(os.listdir(root))
    run_ids = [int(m.group(1)) for n in names if (m := _RUN.fullmatch(n))]
    batch_ids = [int(m.group(1)) for n in names if (m := _BATCH.fullmatch(n))]
    runs = runs_by_id(ws.store, run_ids)
    plan: list[tuple[Path, list[tuple[str, bytes]]]] = []
    for run_id in run_ids:
        run = runs.get(run_id)
        expected = None if run is None else _run_files(ws.store, run)
        plan.append((artifacts.run_dir(config, run_id), expected or []))
    for batch_id in batch_ids:
        plan.append((artifacts.batch_dir(config, batch_id), _batch_files(ws.store, batch_id)))
    for directory, _ in plan:  # every link refused before anything is removed
        safe_files.refuse_links(config.kb_root, directory, setting=setting, entries=True)
    for directory, expected in plan:
        _prune_folder(config, directory, dict(expected), pruned, dry_run)
    return pruned


def _batch_files(store: Store, batch_id: int) -> list[tuple[str, bytes]]:
    with store.read() as conn:
        raw = batch_output(conn, batch_id)
    if raw is None:
        return []
    scope = runs_by_batch(store, batch_id)
    if not scope or any(run.status is RunStatus.RUNNING for run in scope):
        return []  # its output file may still be waiting to be ingested
    return [(artifacts.OUTPUT, artifacts.output_bytes(raw))]


def runs_by_batch(store: Store, batch_id: int) -> list[ScopedRun]:
    try:
        return load_batch(store, batch_id)
    except UserError:
        return []


def _prune_folder(
    config: Config, directory: Path, expected: dict[str, bytes], pruned: Pruned, dry_run: bool
) -> None:
    with _existing(config, directory) as where:
        if where is None:
            return
        present = sorted(os.listdir(where.fd))
        for name in present:
            data = expected.get(name)
            if data is None or where.read(name) != data:
                pruned.kept += 1
                continue
            pruned.removed.append(artifacts.kb_relative(config, directory / name))
            pruned.bytes_freed += len(data)
            if not dry_run:
                where.remove(name)
        left = os.listdir(where.fd)
    if not dry_run and not left:
        with _existing(config, directory.parent) as parent:
            if parent is not None:
                with suppress(OSError):  # removed meanwhile, or not empty after all
                    os.rmdir(directory.name, dir_fd=parent.fd)


@contextmanager
def _existing(config: Config, path: Path) -> Iterator[safe_files.Folder | None]:
    """A folder under the KB opened without following links; None when missing."""
    if not os.path.lexists(path):
        yield None
        return
    setting = artifacts.reports_setting(config)
    with safe_files.folder(config.kb_root, path, setting=setting, create=False) as where:
        yield where


def _made(config: Config, path: Path) -> AbstractContextManager[safe_files.Folder]:
    return safe_files.folder(config.kb_root, path, setting=artifacts.reports_setting(config))


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
