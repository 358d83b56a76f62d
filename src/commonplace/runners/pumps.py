"""The threads that talk to a running runner (SPEC 8, process handling):
one feeds the prompt to its stdin, one decodes its stdout into review text
as it arrives, one keeps its stderr. What they keep of the raw streams is a
head and a tail (`Excerpt`), redacted line by line before anything is cut.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from commonplace.process import Child
from commonplace.redaction import StreamRedactor
from commonplace.runners.base import StreamDecoder

RAW_KEEP_CHARS = 96 * 1024  # head and tail of raw stdout/stderr kept for debugging


class Excerpt:
    """Keeps the head and the tail of a long text, within a budget."""

    def __init__(self, budget: int = RAW_KEEP_CHARS) -> None:
        self.half = budget // 2
        self.head: list[str] = []
        self.head_size = 0
        self.tail: list[str] = []
        self.tail_size = 0
        self.dropped = 0

    def add(self, piece: str) -> None:
        room = self.half - self.head_size
        if room > 0:
            self.head.append(piece[:room])
            self.head_size += min(room, len(piece))
            piece = piece[room:]
            if not piece:
                return
        if len(piece) > self.half:  # one piece longer than the whole tail
            self.dropped += len(piece) - self.half + self.tail_size
            piece, self.tail, self.tail_size = piece[-self.half :], [], 0
        self.tail.append(piece)
        self.tail_size += len(piece)
        while self.tail_size > self.half and len(self.tail) > 1:
            gone = self.tail.pop(0)
            self.tail_size -= len(gone)
            self.dropped += len(gone)

    def text(self) -> str:
        middle = [f"\n[... {self.dropped} characters left out ...]\n"] if self.dropped else []
        return "".join([*self.head, *middle, *self.tail])


class Pump:
    """Threads that feed stdin and drain stdout (decoding it, up to `cap`
    characters of text) and stderr."""

    def __init__(
        self,
        child: Child,
        decoder: StreamDecoder,
        echo: Callable[[str], None] | None,
        secrets: tuple[str, ...],
        *,
        cap: int,
    ) -> None:
        self.child = child
        self.decoder = decoder
        self.echo = echo
        self.secrets = secrets
        self.cap = cap
        self.text: list[str] = []
        self.text_size = 0
        self.raw_size = 0
        self.stdout = Excerpt()
        self.stderr = Excerpt()
        self.threads: list[threading.Thread] = []

    def start(self, prompt: bytes) -> None:
        rest = self._feed_at_once(prompt)
        pumps: list[tuple[Callable[..., None], tuple[bytes, ...]]] = [
            (self._read_stdout, ()),
            (self._read_stderr, ()),
        ]
        if rest:
            pumps.append((self._feed, (rest,)))
        for target, args in pumps:
            thread = threading.Thread(target=target, args=args, daemon=True)
            thread.start()
            self.threads.append(thread)

    def overflowing(self) -> bool:
        # raw output counts too: a stream may carry much more than its text
        return self.text_size > self.cap or self.raw_size > 4 * self.cap

    def join(self, seconds: float) -> None:
        for thread in self.threads:
            thread.join(seconds)

    def _feed_at_once(self, prompt: bytes) -> bytes:
        """Write what the pipe takes now without waiting (most prompts fit
        in its buffer: no thread to start for them) and close stdin when
        all of it went. Returns what is left for `_feed`."""
        stdin = self.child.stdin
        try:
            fd = stdin.fileno()
            os.set_blocking(fd, False)
            try:
                written = os.write(fd, prompt) if prompt else 0
            except BlockingIOError:
                written = 0
            finally:
                os.set_blocking(fd, True)
            if written == len(prompt):
                stdin.close()
        except (BrokenPipeError, OSError, ValueError):
            return b""  # the child stopped reading; its exit status tells why
        return prompt[written:]

    def _feed(self, prompt: bytes) -> None:
        stdin = self.child.stdin
        try:
            stdin.write(prompt)
            stdin.close()
        except (BrokenPipeError, OSError, ValueError):
            pass  # the child stopped reading; its exit status tells why

    def _read_stdout(self) -> None:
        stdout = self.child.stdout
        # Lines are read up to the cap, so that output without newlines is
        # counted (and stopped) as it grows instead of held whole.
        # Each piece is redacted as it arrives, with what came before it (a
        # private key's body lines follow its header): before any cut.
        kept, shown = StreamRedactor(self.secrets), StreamRedactor(self.secrets)
        for raw in iter(lambda: stdout.readline(self.cap + 1), b""):
            self.raw_size += len(raw)
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            self.stdout.add(kept.feed(line + "\n"))
            try:
                piece = self.decoder.feed(line)
            except Exception:  # a line the decoder cannot read is skipped, not fatal
                continue
            if not piece or self.overflowing():
                continue
            self.text.append(piece)
            self.text_size += len(piece)
            self._show(shown.feed(piece))
        self.stdout.add(kept.flush())
        self._show(shown.flush())
        stdout.close()

    def _show(self, text: str) -> None:
        if self.echo is not None and text:
            try:
                self.echo(text)
            except Exception:
                self.echo = None

    def _read_stderr(self) -> None:
        stderr = self.child.stderr
        kept = StreamRedactor(self.secrets)
        for raw in stderr:
            self.stderr.add(kept.feed(raw.decode("utf-8", "replace")))
        self.stderr.add(kept.flush())
        stderr.close()
