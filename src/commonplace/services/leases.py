"""The renewer: keeps the leases of this process's running runs alive while
it works (see `lifecycle/leases.py`).

One daemon thread per executing command, with a store handle of its own,
renews every third of a lease, so two renewals can fail before the lease
runs out. A renewal that fails (the server gone, the file locked too long)
is counted and the next one tried afresh; it never reaches the batches,
which go on, and if renewals keep failing the lease simply expires. It
prints nothing and installs no signal handler.
"""

from __future__ import annotations

import threading
from contextlib import suppress

from commonplace.lifecycle import lease_end, renew_leases
from commonplace.owners import this_owner
from commonplace.store.connection import Store

STOP_WAIT_S = 5.0  # how long `stop` waits for a renewal under way


class LeaseRenewer:
    """`with LeaseRenewer(store, seconds):` renews the leases of this
    process's running runs for as long as the block runs."""

    def __init__(self, store: Store, seconds: float) -> None:
        self.owner = this_owner()
        self.seconds = seconds
        self.renewed = 0  # run leases renewed, over all renewals
        self.failures = 0
        self.last_error: str | None = None
        self._store = store.another()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name="commonplace-lease-renewer", daemon=True
        )

    def __enter__(self) -> LeaseRenewer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        """Stop renewing; waits a little for a renewal under way (one stuck
        on a dead server is left to the daemon thread, which ends with us)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(STOP_WAIT_S)

    def renew_once(self) -> None:
        try:
            self.renewed += renew_leases(self._store, self.owner, lease_end(self.seconds))
        except Exception as exc:  # a renewal never fails the work it keeps alive
            self.failures += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            self._close()  # a broken connection is opened afresh next time

    def _loop(self) -> None:
        try:
            while not self._stop.wait(self.seconds / 3):
                self.renew_once()
        finally:
            self._close()  # in the thread that used the handle, as SQLite requires

    def _close(self) -> None:
        with suppress(Exception):
            self._store.close()
