"""Headless Chromium for the report tests: load a page from a file with every
host unresolvable, and read back the DOM after its scripts ran (or a
screenshot), its console messages and the network requests it made."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path


class Parsed(HTMLParser):
    """Elements with their attributes, and the text inside each tag name."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text: dict[str, list[str]] = {}
        self._open: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))
        if tag not in ("meta", "input", "br", "wbr"):
            self._open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._open:
            while self._open.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if self._open:
            self.text.setdefault(self._open[-1], []).append(data)

    def cells(self) -> list[dict[str, str]]:
        return [a for t, a in self.elements if t == "td" and "data-decision" in a]


LOG_CONSOLE = re.compile(r':CONSOLE[:(]\d+\)?\] "(?P<message>.*)", source: (?P<source>.*)$')


@dataclass(frozen=True)
class Page:
    dom: str
    console: tuple[str, ...]
    """Every console message of the page (the report logs none)."""
    requests: tuple[str, ...]
    """Every network request the page made (Chromium's own excluded)."""


def browse(
    chromium: str,
    page: Path,
    tmp: Path,
    *,
    fragment: str = "",
    window: tuple[int, int] = (1280, 900),
    screenshot: Path | None = None,
) -> Page:
    """Load `page` in headless Chromium, with every host unresolvable; the DOM
    after the scripts ran (or a screenshot), the console and the requests."""
    tmp.mkdir(parents=True, exist_ok=True)
    netlog = tmp / "net.json"
    argv = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={tmp / 'profile'}",
        "--enable-logging=stderr",
        "--v=0",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--log-net-log={netlog}",
        f"--window-size={window[0]},{window[1]}",
        f"--screenshot={screenshot}" if screenshot else "--dump-dom",
        page.as_uri() + fragment,
    ]
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    ) as proc:
        try:
            out, err = proc.communicate(timeout=60)
        finally:  # the whole process group: Chromium's helpers too
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, err
    return Page(out, console_messages(err), page_requests(netlog))


def console_messages(stderr: str) -> tuple[str, ...]:
    """What the page said on the console: Chromium logs each message with the
    tag CONSOLE, unlike its own diagnostics."""
    found = []
    for line in stderr.splitlines():
        if m := LOG_CONSOLE.search(line):
            found.append(f"{m['message']} ({m['source']})")
        elif "Uncaught" in line:
            found.append(line)
    return tuple(found)


def page_requests(netlog: Path) -> tuple[str, ...]:
    """URLs the page asked the network stack for: requests made on behalf of a
    file:// document, as opposed to Chromium's own background requests."""
    log = json.loads(netlog.read_text(encoding="utf-8"))
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return tuple(
        event["params"]["url"]
        for event in log["events"]
        if event["type"] == start
        and "url" in event.get("params", {})
        and (
            event["params"].get("initiator") == "null"
            or "file://" in event["params"].get("network_isolation_key", "")
        )
    )


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    assert len(data) > 10_000  # a rendered page, not a blank image
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
