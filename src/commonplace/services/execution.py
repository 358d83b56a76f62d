"""What one batch's execution takes and passes between its steps: how to
call the runner, the flag that cancels running calls, the batch's context
once its runs exist, and the small records the steps return."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from commonplace.config import Config
from commonplace.lifecycle import CreatedBatch
from commonplace.lifecycle.partitions import Partition
from commonplace.lifecycle.targets import Plan
from commonplace.protocol.grammar import Pair
from commonplace.protocol.prompt import RenderedPrompt
from commonplace.runners.base import Adapter, Failure
from commonplace.runners.launch import RunnerResult
from commonplace.services import artifacts
from commonplace.services.ingest import IngestReport
from commonplace.services.scope import ScopedRun
from commonplace.store.connection import Store


class Cancel:
    """Asks running calls to stop, with the failure their runs should get."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.failure: Failure | None = None
        self._lock = threading.Lock()

    def set(self, failure: Failure) -> None:
        with self._lock:
            if self.failure is None:
                self.failure = failure
                self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()


@dataclass(frozen=True)
class RunnerCall:
    """How to call the runner for every batch of a command."""

    adapter: Adapter
    model: str  # as given to the CLI
    partition: Partition
    timeout: float | None
    retry_missing: bool = True
    cli_version: str | None = None  # asked of the CLI once per command


@dataclass(frozen=True)
class BatchContext:
    """What every step of one batch shares once its runs exist."""

    config: Config
    store: Store
    plan: Plan  # only the pairs this batch has
    runner: RunnerCall
    batch: CreatedBatch
    scope: tuple[ScopedRun, ...]  # its runs, one per note of the plan
    cancel: Cancel | None
    echo: Callable[[str], None] | None  # where its live text goes

    @property
    def batch_id(self) -> int:
        return self.batch.batch_id

    @property
    def token(self) -> str:
        return self.batch.boundary_token

    @property
    def directory(self) -> Path:
        return artifacts.batch_dir(self.config, self.batch_id)

    @property
    def expected(self) -> list[Pair]:
        return [pair for run in self.scope for pair in run.pairs]


@dataclass(frozen=True)
class Parsed:
    """The pair bodies that arrived, and what made the output malformed if it was."""

    bodies: dict[Pair, str]
    problem: str | None = None


@dataclass(frozen=True)
class Reviewed:
    """The calls made for a batch (one, or two with the re-ask) and what they gave."""

    calls: tuple[RunnerResult, ...]
    parsed: Parsed
    # what the batch asked, kept to be written only if a run fails (a sweep
    # that goes well leaves its prompts to the store's SHA-256 and the runner)
    prompt: RenderedPrompt | None = None
    manifest: dict[str, object] | None = None


@dataclass(frozen=True)
class Executed:
    report: IngestReport
    failure: Failure | None
    cost_usd: float | None
    warnings: tuple[str, ...]
