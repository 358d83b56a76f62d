"""The sweeps' launcher: batches on worker threads, at most `jobs` at a time,
each through `execute_batch`, launching the next only while no usage limit,
budget or stop request says stop. While batches run, a `LeaseRenewer` keeps
the leases of their runs alive."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager, nullcontext

from commonplace.errors import UserError
from commonplace.lifecycle import AllClaimed, Packing
from commonplace.lifecycle.targets import Plan, SkippedPair
from commonplace.runners.base import Failure, FailureKind
from commonplace.services.events import StopRequest, SweepEvents, SweepProgress
from commonplace.services.execution import Cancel, RunnerCall
from commonplace.services.executor import BatchResult, execute_batch
from commonplace.services.leases import LeaseRenewer
from commonplace.store.connection import Store
from commonplace.workspace import Workspace

TYPE_CHECKING = False
if TYPE_CHECKING:  # the sweeps own their options; the launcher only reads them
    from commonplace.services.sweeps import SweepOptions


class Launcher:
    """Runs batches on worker threads, at most `jobs` at a time, launching
    the next only while no usage limit, budget or Ctrl-C says stop."""

    def __init__(
        self,
        ws: Workspace,
        runner: RunnerCall,
        packing: Packing,
        options: SweepOptions,
        events: SweepEvents,
        claim: bool = False,
    ) -> None:
        self.ws, self.runner, self.packing, self.options = ws, runner, packing, options
        self.events = events
        self.claim = claim
        self.claimed: list[SkippedPair] = []  # pairs left to other processes
        self.finished = 0
        self.cancel = Cancel()
        self.results: list[BatchResult] = []
        self.stopped: str | None = None
        self.handles = _Handles(ws.store)

    def run(self, plans: Sequence[Plan]) -> tuple[list[BatchResult], str | None, int]:
        pending = list(plans)
        running: set[Future[BatchResult | AllClaimed]] = set()
        reserved = False
        renewer: LeaseRenewer | None = None
        if pending:  # the store is created and migrated once, not by racing workers
            renewer = LeaseRenewer(self.ws.store, self.ws.config.lease_seconds)  # names the host
            self.ws.store.connection(create=True)
            reserved = self.ws.store.keep_reserve()
        interrupted = self.events.stop or StopRequest()
        try:
            with (
                renewer or nullcontext(),
                ThreadPoolExecutor(max_workers=self.options.jobs) as pool,
                interrupted.deferred(),
            ):
                try:
                    while (pending or running) and not interrupted.is_set():
                        while pending and len(running) < self.options.jobs and self._may_launch():
                            running.add(pool.submit(self._one, pending.pop(0)))
                        if not running:
                            break
                        done, running = wait(running, timeout=0.2, return_when=FIRST_COMPLETED)
                        for future in done:
                            self._finished(future.result(), len(plans))
                    if interrupted.is_set():
                        raise KeyboardInterrupt
                except BaseException as exc:
                    self.cancel.set(_stop_failure(exc))
                    wait(running)
                    raise
        finally:
            self.handles.close()
            if reserved:
                self.ws.store.release_reserve()
        self._progress(len(plans), final=True)
        return self.results, self.stopped, len(pending)

    def _one(self, plan: Plan) -> BatchResult | AllClaimed:
        with self.handles.handle() as store:  # one connection per batch in flight
            try:
                return execute_batch(
                    self.ws.config,
                    store,
                    plan,
                    self.runner,
                    packing=self.packing,
                    cancel=self.cancel,
                    echo=self.events.live_text if self.options.stream else None,
                    claim=self.claim,
                )
            except AllClaimed as nothing_left:
                return nothing_left

    def _finished(self, result: BatchResult | AllClaimed, total: int) -> None:
        self.finished += 1
        if isinstance(result, AllClaimed):
            self.claimed.extend(result.skipped)
            self._progress(total)
            return
        self.results.append(result)
        self.claimed.extend(result.claimed)
        if result.usage_limited and self.stopped is None:
            self.stopped = "usage limit reached"
            self.cancel.set(
                Failure(
                    FailureKind.USAGE_LIMIT,
                    f"stopped: batch {result.batch_id} hit the usage limit",
                )
            )
        self._progress(total)

    def _may_launch(self) -> bool:
        if self.cancel.is_set():
            return False
        budget = self.options.max_cost_usd
        if budget is not None:
            spent = sum(r.cost_usd or 0.0 for r in self.results)
            if spent >= budget:
                self.stopped = self.stopped or f"--max-cost-usd {budget:g} spent (${spent:.4f})"
                return False
        return True

    def _progress(self, total: int, final: bool = False) -> None:
        if self.events.progress is None:
            return
        completed = sum(len(r.completed) for r in self.results)
        failed = sum(len(r.failed) for r in self.results)
        self.events.progress(SweepProgress(self.finished, total, completed, failed, final))


def _stop_failure(exc: BaseException) -> Failure:
    """What the batches still running are failed with when the sweep stops
    on an error (a full disk, say) rather than on Ctrl-C."""
    if isinstance(exc, UserError):
        return Failure(FailureKind.INTERRUPTED, f"stopped: {exc.message}")
    return Failure(FailureKind.INTERRUPTED, "interrupted")


class _Handles:
    """Store handles for the worker threads, kept from one batch to the next
    (a server connection costs a login, and a sweep runs hundreds of
    batches); each serves one batch at a time. A handle whose batch raised
    is closed, not reused."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._idle: list[Store] = []
        self._lock = threading.Lock()

    @contextmanager
    def handle(self) -> Iterator[Store]:
        with self._lock:
            store = self._idle.pop() if self._idle else self._store.another()
        try:
            yield store
        except BaseException:
            store.close()
            raise
        with self._lock:
            self._idle.append(store)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for store in idle:
            store.close()
