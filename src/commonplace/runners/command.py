"""Configured `command` runners: any executable named in commonplace.toml.

    [runners.my-llm]
    command = ["python3", "tools/review.py", "--fast"]   # run from the KB root
    env = ["MY_LLM_KEY"]                                  # passed through
    timeout = 600

The prompt arrives on stdin, the review text is read from stdout. The
command may write telemetry as a JSON object to the path in
`COMMONPLACE_TELEMETRY_FILE` (keys as in our telemetry: `model` (or `models`
when several served), `effort`, `tokens` {input, output, cache_read,
cache_write, reasoning}, `cost_usd`, `duration_ms`, `turns`, `session_id`,
`cli_version`; anything else is kept as details).
`COMMONPLACE_MODEL` and `COMMONPLACE_EFFORT` carry the model flags. Exit
status 75 (EX_TEMPFAIL) says "usage limit, try later", as our commands do.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path

from commonplace.runners.base import (
    BaseAdapter,
    Call,
    Failure,
    FailureKind,
    Outcome,
    PlainText,
    StreamDecoder,
    last_lines,
)
from commonplace.runners.telemetry import (
    Telemetry,
    Tokens,
    distinct,
    int_or_none,
    usable_model,
)
from commonplace.settings import RunnerSettings

TELEMETRY_ENV = "COMMONPLACE_TELEMETRY_FILE"
EX_TEMPFAIL = 75
_KNOWN = {
    "effort",
    "model",
    "models",
    "tokens",
    "cost_usd",
    "duration_ms",
    "turns",
    "session_id",
    "cli_version",
}


class CommandAdapter(BaseAdapter):
    def __init__(self, name: str, settings: RunnerSettings, kb_root: Path) -> None:
        super().__init__(settings)
        self.name = name  # per instance: one class, many names
        self.kb_root = kb_root

    def display_name(self) -> str:
        return f"runner {self.name} (`{self.settings.command[0]}`)"

    def argv(self, call: Call, session_id: str) -> list[str]:
        program, *args = self.settings.command
        if "/" in program and not Path(program).is_absolute():
            program = str(self.kb_root / program)
        return [program, *args, *self.settings.extra_args]

    def call_environment(self, call: Call, session_id: str) -> dict[str, str]:
        env = {TELEMETRY_ENV: str(telemetry_file(session_id)), "COMMONPLACE_MODEL": call.model}
        if call.effort:
            env["COMMONPLACE_EFFORT"] = call.effort
        return env

    def decoder(self) -> StreamDecoder:
        return PlainText()

    def classify(self, decoder: StreamDecoder, outcome: Outcome) -> Failure | None:
        if outcome.stopped is None and outcome.returncode == EX_TEMPFAIL:
            detail = last_lines(outcome.stderr)
            return Failure(
                FailureKind.USAGE_LIMIT,
                f"{self.display_name()} exited {EX_TEMPFAIL}" + (f": {detail}" if detail else ""),
            )
        return super().classify(decoder, outcome)

    def telemetry(
        self,
        call: Call,
        decoder: StreamDecoder,
        outcome: Outcome,
        env: Mapping[str, str],
        session_id: str,
    ) -> Telemetry:
        path = telemetry_file(session_id)
        reported: object = None
        problem = None
        try:
            reported = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as exc:
            problem = f"unreadable telemetry file: {exc}"
        finally:
            path.unlink(missing_ok=True)
        if reported is not None and not isinstance(reported, dict):
            problem = "the telemetry file does not hold a JSON object"
        if not isinstance(reported, dict):
            return Telemetry(
                runner=self.name,
                requested_model=call.model,
                effort=call.effort,
                duration_ms=outcome.duration_ms,
                details={"wall_ms": outcome.duration_ms}
                | ({"telemetry_error": problem} if problem else {}),
            )
        named = usable_model(reported.get("model"))
        listed = reported.get("models")
        models = distinct(
            [m for m in listed if usable_model(m)] if isinstance(listed, list) else []
        ) or ((named,) if named else ())
        # one main model, or none: several models mean nothing is rekeyed
        model = models[0] if len(models) == 1 and named in (None, models[0]) else None
        effort = reported.get("effort")
        tokens = reported.get("tokens")
        if not isinstance(tokens, dict):
            tokens = {}
        cost = reported.get("cost_usd")
        return Telemetry(
            runner=self.name,
            cli_version=reported.get("cli_version")
            if isinstance(reported.get("cli_version"), str)
            else None,
            model=model,
            models=models,
            requested_model=call.model,
            effort=effort if isinstance(effort, str) and effort else call.effort,
            tokens=Tokens(**{k: int_or_none(tokens.get(k)) for k in Tokens.__dataclass_fields__}),
            cost_usd=cost if isinstance(cost, int | float) and not isinstance(cost, bool) else None,
            duration_ms=_or(int_or_none(reported.get("duration_ms")), outcome.duration_ms),
            turns=int_or_none(reported.get("turns")),
            session_id=reported.get("session_id")
            if isinstance(reported.get("session_id"), str)
            else None,
            sources=("telemetry-file",),
            details={
                "wall_ms": outcome.duration_ms,
                **{k: v for k, v in reported.items() if k not in _KNOWN},
            },
        )


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


def telemetry_file(session_id: str) -> Path:
    return Path(tempfile.gettempdir()) / f"commonplace-telemetry-{session_id}.json"
