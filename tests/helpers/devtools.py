"""Headless Chromium driven over the DevTools protocol on a pipe
(`--remote-debugging-pipe`: commands on fd 3, replies on fd 4, each a JSON
message ending in NUL), standard library only. For what `--dump-dom` cannot
do: scroll, click, wait for the page, and time its first paint. Used by the
report tests and by benchmarks/report_scale.py."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

# Injected before the page's own script runs: reports, through a binding, the
# time since navigation start once the page is parsed (its script has run), a
# matrix cell exists and two frames passed. Parsed, because a page streamed in
# shows its first cells long before it can be used.
PAINT_WATCH = """
(() => {
  const check = () => {
    if (document.readyState !== "loading"
        && document.querySelector("#matrix td[data-decision]")) {
      requestAnimationFrame(() => requestAnimationFrame(
        () => cpPainted(String(performance.now()))));
    } else setTimeout(check, 10);
  };
  check();
})();
"""


def _high(fd: int) -> int:
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return moved


@dataclass
class Painted:
    seconds: float
    """From navigation start to the matrix drawn, as the page measures it."""
    wall: float
    """From the navigation command to the report, as this process measures it."""
    errors: list[str] = field(default_factory=list)


class DevTools:
    """One headless Chromium with one page, every host unresolvable."""

    def __init__(self, chromium: str, profile: Path, window: tuple[int, int] = (1280, 900)):
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # above 4, so that the shell's redirections below cannot clobber them
        to_browser_r, from_browser_w = (_high(to_browser_r), _high(from_browser_w))
        argv = [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            f"--user-data-dir={profile}",
            f"--window-size={window[0]},{window[1]}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        # the child gets the pipe ends where Chromium looks for them, and its own session
        self._pid = os.posix_spawn(
            chromium,
            argv,
            dict(os.environ),
            file_actions=[
                (os.POSIX_SPAWN_DUP2, to_browser_r, 3),
                (os.POSIX_SPAWN_DUP2, from_browser_w, 4),
                (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
            ],
            setsid=True,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        self.session = ""
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")

    def __enter__(self) -> DevTools:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._to_browser)
        with contextlib.suppress(OSError):
            os.close(self._from_browser)
        with contextlib.suppress(ProcessLookupError):  # Chromium's helpers too
            os.killpg(self._pid, signal.SIGKILL)
        os.waitpid(self._pid, 0)

    def call(self, method: str, timeout: float = 60.0, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if self.session and not method.startswith("Target."):
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        wanted = self._next_id
        while True:
            reply = self._read(timeout)
            if reply.get("id") == wanted:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            if "method" in reply:
                self.events.append(reply)

    def wait_for(self, method: str, timeout: float) -> dict[str, Any]:
        """The first event `method` not yet consumed (waiting for it)."""
        deadline = time.monotonic() + timeout
        while True:
            for i, event in enumerate(self.events):
                if event["method"] == method:
                    return self.events.pop(i)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(method)
            reply = self._read(left)
            if "method" in reply:
                self.events.append(reply)

    def evaluate(self, expression: str, timeout: float = 60.0) -> Any:
        """The value of `expression` in the page (promises awaited)."""
        result = self.call(
            "Runtime.evaluate",
            timeout=timeout,
            expression=expression,
            awaitPromise=True,
            returnByValue=True,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"page error: {result['exceptionDetails']}")
        return result["result"].get("value")

    def load(self, url: str, timeout: float = 60.0) -> None:
        self.call("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired", timeout)

    def first_paint(self, url: str, timeout: float = 60.0) -> Painted:
        self.call("Runtime.addBinding", name="cpPainted")
        self.call("Page.addScriptToEvaluateOnNewDocument", source=PAINT_WATCH)
        started = time.monotonic()
        self.call("Page.navigate", url=url)
        event = self.wait_for("Runtime.bindingCalled", timeout)
        wall = time.monotonic() - started
        return Painted(float(event["params"]["payload"]) / 1000, wall, self.errors())

    def errors(self) -> list[str]:
        """Console messages, uncaught exceptions and log entries of the page so far."""
        found = []
        for event in self.events:
            params = event.get("params", {})
            if event["method"] == "Runtime.consoleAPICalled":
                args = [str(a.get("value", a.get("description", ""))) for a in params["args"]]
                found.append(f"console.{params['type']}: {' '.join(args)}")
            elif event["method"] == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                found.append(str(details.get("exception", {}).get("description", details)))
            elif event["method"] == "Log.entryAdded":
                entry = params["entry"]
                found.append(f"{entry['level']} {entry['source']}: {entry['text']}")
        return found

    def _read(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._from_browser], [], [], max(0.0, left))
            if not ready:
                raise TimeoutError("no reply from Chromium")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        parsed: dict[str, Any] = json.loads(message)
        return parsed
