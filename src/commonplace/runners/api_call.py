"""What the API runners share (SPEC 8): one request per call, sent through
the provider's official SDK on a worker thread, so that Ctrl-C and the
timeout stop it at once; the provider's push-back (429, overload, 5xx)
retried with its retry-after, in our own loop rather than the SDK's, so that
every wait is visible (debug log, telemetry) and shrinks the shared
concurrency; every other answer turned into a specific failure.

An API runner is no child process: `launch.run_adapter` hands the call to
`request` (the `DirectAdapter` seam), which returns the same `RunnerResult`.
"""

from __future__ import annotations

import contextlib
import importlib
import re
import threading
import time
import uuid
from abc import abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import ModuleType
from typing import Any, ClassVar

from commonplace.errors import UserError
from commonplace.redaction import redact, redact_json
from commonplace.runners.base import (
    BaseAdapter,
    Call,
    Failure,
    FailureKind,
    Outcome,
    PlainText,
    StreamDecoder,
)
from commonplace.runners.launch import Cancellable, RunnerResult
from commonplace.runners.pricing import PriceTable, Usage, cost_of, missing_note
from commonplace.runners.pushback import AdaptiveLimit, backoff, retry_after, sleep_unless
from commonplace.runners.telemetry import Telemetry, Tokens
from commonplace.settings import RunnerSettings

DEFAULT_RETRIES = 6
CONNECTION_RETRIES = 2  # an unreachable API is rarely back within seconds
POLL = 0.05

# Matched against the provider's error message and code only, never review text.
QUOTA = re.compile(
    r"insufficient[_ ]quota|quota|credit balance|billing|spend(?:ing)? limit|usage limit",
    re.IGNORECASE,
)
CONTEXT = re.compile(
    r"context[_ ](?:length|window)|prompt is too long|maximum context|input is too long"
    r"|too many (?:input )?tokens",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Reply:
    """What a provider's answer says, in our terms."""

    text: str
    model: str | None
    request_id: str | None
    tokens: Tokens
    stop: Failure | None = None  # refusal, cut-off: the answer itself says so
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    """How an error answer is handled."""

    failure: Failure
    retry: bool = False
    pushback: bool = False  # the provider asks for fewer requests at once
    wait: float | None = None  # its retry-after, in seconds
    status: int | None = None


class ApiAdapter(BaseAdapter):
    """A provider's API behind the runner contract. Subclasses build the
    request and read the answer; everything else is here."""

    sdk: ClassVar[str]  # the SDK's module, also the name of the package extra
    key_variable: ClassVar[str]
    base_url_variable: ClassVar[str]
    input_includes_cache: ClassVar[bool]

    def __init__(self, settings: RunnerSettings | None = None, prices: PriceTable | None = None):
        super().__init__(settings)
        self.prices = prices or PriceTable()
        self.limit = AdaptiveLimit()

    # -- the subprocess half of the contract: an API runner starts no process

    def argv(self, call: Call, session_id: str) -> list[str]:
        return []

    def program(self) -> str:
        return self.sdk

    def version_argv(self) -> list[str] | None:
        return None

    def decoder(self) -> StreamDecoder:
        return PlainText()

    def telemetry(
        self,
        call: Call,
        decoder: StreamDecoder,
        outcome: Outcome,
        env: Mapping[str, str],
        session_id: str,
    ) -> Telemetry | None:
        return None

    # -- what a provider module writes

    @abstractmethod
    def client(self, module: ModuleType, key: str, base_url: str | None, timeout: float) -> Any:
        """An SDK client that does not retry by itself."""

    @abstractmethod
    def send(self, client: Any, call: Call) -> Reply:
        """Send one request and read its answer (on a worker thread)."""

    # -- checks before any run exists

    def preflight(self, env: Mapping[str, str]) -> str | None:
        module = self.module()
        self.key(env)
        self.base_url(env)
        return f"{self.sdk}-python {getattr(module, '__version__', '?')}"

    def module(self) -> ModuleType:
        try:
            return importlib.import_module(self.sdk)
        except ImportError:
            raise UserError(
                f"runner {self.name} needs the {self.sdk} SDK:"
                f" pip install 'commonplace-review[{self.sdk}]'"
            ) from None

    def key(self, env: Mapping[str, str]) -> str:
        key = env.get(self.key_variable, "").strip()
        if not key:
            raise UserError(f"runner {self.name}: set {self.key_variable} to your API key")
        return key

    def base_url(self, env: Mapping[str, str]) -> str | None:
        if self.settings.base_url:
            return self.settings.base_url
        url = env.get(self.base_url_variable, "").strip()
        if url and not url.startswith(("http://", "https://")):
            raise UserError(f"{self.base_url_variable} must be an http:// or https:// URL")
        return url or None

    # -- one call

    def request(
        self,
        call: Call,
        *,
        timeout: float | None,
        cancel: Cancellable | None,
        echo: Callable[[str], None] | None,
        env: Mapping[str, str],
    ) -> RunnerResult:
        started = time.monotonic()
        deadline = None if timeout is None else started + timeout
        log: list[str] = []
        retries: list[dict[str, Any]] = []
        try:
            module, key, base_url = self.module(), self.key(env), self.base_url(env)
        except UserError as exc:
            return self._result(call, started, "", Failure(FailureKind.AUTH, exc.message), [])

        def stopped() -> Failure | None:
            if cancel is not None and cancel.is_set():
                return Failure(FailureKind.INTERRUPTED, "interrupted")
            if deadline is not None and time.monotonic() > deadline:
                return Failure(FailureKind.TIMEOUT, f"timed out after {timeout:g} s")
            return None

        reply: Reply | None = None
        failure: Failure | None = None
        limit = self.settings.max_retries
        allowed = DEFAULT_RETRIES if limit is None else limit
        while True:
            if not self.limit.acquire(lambda: stopped() is not None):
                failure = stopped()
                break
            try:
                left = 600.0 if deadline is None else max(deadline - time.monotonic(), 0.1)
                answer = self._attempt(module, key, base_url, left, call, stopped)
            finally:
                self.limit.release()
            timed_out = not isinstance(answer, Reply) and answer.failure.kind is FailureKind.TIMEOUT
            if timed_out and timeout is not None:  # the SDK had what was left of ours: say ours
                answer = Verdict(Failure(FailureKind.TIMEOUT, f"timed out after {timeout:g} s"))
            if isinstance(answer, Reply):
                self.limit.succeeded()
                reply, failure = answer, answer.stop
                break
            if answer.pushback:
                now = self.limit.pushed_back()
                log.append(f"provider pushed back: at most {now} request(s) at once")
            log.append(f"attempt {len(retries) + 1}: {answer.failure.message}")
            cap = allowed if answer.status is not None else min(allowed, CONNECTION_RETRIES)
            if not answer.retry or len(retries) >= cap:
                failure = answer.failure
                if answer.retry:
                    failure = replace(
                        failure, message=f"{failure.message} (still, after {cap} retries)"
                    )
                break
            wait = answer.wait if answer.wait is not None else backoff(len(retries))
            if deadline is not None and time.monotonic() + wait > deadline:
                failure = replace(
                    answer.failure,
                    message=f"{answer.failure.message} (retry after {wait:g} s would pass"
                    f" the {timeout:g} s timeout)",
                )
                break
            retries.append(
                {"status": answer.status, "wait_s": round(wait, 3), "retry_after": answer.wait}
            )
            log.append(
                f"retrying in {wait:g} s"
                + (" (the server's retry-after)" if answer.wait is not None else " (backoff)")
            )
            if not sleep_unless(wait, lambda: stopped() is not None):
                failure = stopped()
                break
        secrets = (key,)
        text = redact(reply.text, secrets) if reply else ""
        if echo is not None and text:
            echo(text)
        telemetry = self._telemetry(call, reply, retries, started) if reply else None
        if telemetry is not None:
            telemetry = replace(telemetry, details=redact_json(dict(telemetry.details), secrets))
        if failure is not None:
            failure = replace(failure, message=redact(failure.message, secrets))
        log = [redact(line, secrets) for line in log]
        return self._result(call, started, text, failure, log, telemetry, reply)

    def _attempt(
        self,
        module: ModuleType,
        key: str,
        base_url: str | None,
        timeout: float,
        call: Call,
        stopped: Callable[[], Failure | None],
    ) -> Reply | Verdict:
        """One request on a worker thread; closing the client is what stops
        a request in flight (the thread is a daemon: nothing waits for it)."""
        client = self.client(module, key, base_url, timeout)
        box: dict[str, Any] = {}
        done = threading.Event()

        def work() -> None:
            try:
                box["reply"] = self.send(client, call)
            except BaseException as exc:  # handed to the waiting thread
                box["error"] = exc
            finally:
                done.set()

        threading.Thread(target=work, name=f"{self.name}-request", daemon=True).start()
        try:
            while not done.wait(POLL):
                why = stopped()
                if why is not None:
                    return Verdict(why)
        finally:
            with contextlib.suppress(Exception):  # best effort: the answer is known
                client.close()
        if "reply" in box:
            reply: Reply = box["reply"]
            return reply
        return self.verdict(module, box["error"], timeout)

    def verdict(self, module: ModuleType, exc: BaseException, timeout: float) -> Verdict:
        """What an SDK exception means for the runs (both SDKs share the
        class names)."""
        name = self.name
        if isinstance(exc, module.APITimeoutError):
            return Verdict(Failure(FailureKind.TIMEOUT, f"timed out after {timeout:g} s"))
        if isinstance(exc, module.APIConnectionError):
            return Verdict(
                Failure(FailureKind.CRASH, f"{name}: cannot reach the API: {exc}"), retry=True
            )
        if not isinstance(exc, module.APIStatusError):
            return Verdict(Failure(FailureKind.CRASH, f"{name}: {type(exc).__name__}: {exc}"))
        status = int(exc.status_code)
        message, code = _error_text(exc.body, str(getattr(exc, "message", "")))
        said = f"{status}{f' {code}' if code else ''}: {message}"
        wait = retry_after(exc.response.headers)
        if status in (400, 402, 429) and (QUOTA.search(message) or QUOTA.search(code)):
            return Verdict(Failure(FailureKind.USAGE_LIMIT, f"{name}: {said}"), status=status)
        if status == 429:
            failure = Failure(FailureKind.USAGE_LIMIT, f"{name}: rate limited ({said})")
            return Verdict(failure, retry=True, pushback=True, wait=wait, status=status)
        if status in (503, 529):
            failure = Failure(FailureKind.SERVER_ERROR, f"{name}: overloaded ({said})")
            return Verdict(failure, retry=True, pushback=True, wait=wait, status=status)
        if status >= 500:
            failure = Failure(FailureKind.SERVER_ERROR, f"{name}: server error ({said})")
            return Verdict(failure, retry=True, wait=wait, status=status)
        if status in (401, 403):
            return Verdict(Failure(FailureKind.AUTH, f"{name}: not authorized ({said})"))
        if CONTEXT.search(message) or CONTEXT.search(code):
            failure = Failure(FailureKind.CONTEXT_LENGTH, f"{name}: prompt too long ({said})")
            return Verdict(failure, status=status)
        return Verdict(Failure(FailureKind.REJECTED, f"{name}: request rejected ({said})"))

    def _telemetry(
        self, call: Call, reply: Reply, retries: list[dict[str, Any]], started: float
    ) -> Telemetry:
        price = self.prices.find(reply.model) or self.prices.find(call.model)
        usage = Usage.of(reply.tokens, self.input_includes_cache)
        details: dict[str, Any] = {"request_id": reply.request_id, **reply.details}
        if retries:
            details["retries"] = retries
        if price is None:
            details["cost_note"] = missing_note(reply.model or call.model)
        module = self.module()
        return Telemetry(
            runner=self.name,
            cli_version=f"{self.sdk}-python {getattr(module, '__version__', '?')}",
            model=reply.model,
            models=(reply.model,) if reply.model else (),
            requested_model=call.model,
            effort=call.effort,
            tokens=reply.tokens,
            input_includes_cache_read=self.input_includes_cache,
            cost_usd=cost_of(price, usage) if price is not None else None,
            duration_ms=int((time.monotonic() - started) * 1000),
            turns=1,
            session_id=reply.request_id,
            sources=("api-response",),
            details=details,
        )

    def _result(
        self,
        call: Call,
        started: float,
        text: str,
        failure: Failure | None,
        log: list[str],
        telemetry: Telemetry | None = None,
        reply: Reply | None = None,
    ) -> RunnerResult:
        if telemetry is not None and telemetry.cost_usd is None:
            log.append(str(telemetry.details.get("cost_note", "")))
        return RunnerResult(
            runner=self.name,
            text=text,
            failure=failure,
            telemetry=telemetry,
            telemetry_error=None,
            stdout_excerpt="",
            stderr_excerpt="\n".join(line for line in log if line),
            returncode=None,
            wall_ms=int((time.monotonic() - started) * 1000),
            session_id=(reply.request_id if reply else None) or str(uuid.uuid4()),
        )


def _error_text(body: object, fallback: str) -> tuple[str, str]:
    """The message and the type/code of an error body of either provider:
    {"error": {"type"|"code": ..., "message": ...}}."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        message = error.get("message")
        code = error.get("code") or error.get("type")
        return (
            str(message)[:500] if message else fallback[:500],
            str(code)[:100] if isinstance(code, str) else "",
        )
    return fallback[:500], ""
