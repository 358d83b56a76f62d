"""Fake reviewers that run as real child processes, for the executor, sweep and
runner-command tests, and the helpers that install them into a temporary KB.

Two scripts are installed under `<kb>/tools/`:

- `fake-reviewer.py`, a command runner (`[runners.<name>] command = [python,
  "tools/fake-reviewer.py", ...options]`): it reads the prompt on stdin and
  answers the pairs under "## Requested pairs", shaped by its options;
- `fake-codex.py`, a stand-in for the `codex` CLI (`[runners.codex] binary =
  "<absolute path>"`): it answers `--version`, and otherwise prints a
  `codex exec --json` stream that answers the requested pairs or reports a
  usage limit.

Both keep a record of every call in a state directory outside the KB: the
call number (claimed atomically), the prompt, the pid, and start and end times.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from helpers.db import Target, polling, run_states
from helpers.kb import git

REVIEWER = "tools/fake-reviewer.py"
CODEX = "tools/fake-codex.py"
USAGE_LIMIT_MESSAGE = "You’ve hit your usage limit. Try again later."

# What both scripts share: claiming a call number and answering the prompt.
_COMMON = r'''
import json
import os
import sys
import time
from pathlib import Path


def claim(state):
    """The number of this call (1, 2, ...), claimed by creating a file."""
    state.mkdir(parents=True, exist_ok=True)
    number = 1
    while True:
        try:
            fd = os.open(state / f"call-{number}", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            number += 1
            continue
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        return number


def requested(prompt):
    """The (note, gate) pairs under the prompt's "## Requested pairs"."""
    section = prompt.rpartition("\n## Requested pairs\n")[2].split("\n## ", 1)[0]
    pairs = []
    for line in section.splitlines():
        if line.startswith("- ") and " :: " in line:
            note, gate = line[2:].split(" :: ", 1)
            pairs.append((note, gate))
    return pairs


def token(prompt):
    """The boundary token under the prompt's last "## Output" ("" if none)."""
    for line in prompt.rpartition("\n## Output\n")[2].splitlines():
        if line.startswith("Boundary token: `"):
            return line[len("Boundary token: `"):].partition("`")[0]
    return ""


def mark(prompt):
    """What follows START/END in a sentinel: ` <token>:` (pairs-v2) or `:`."""
    found = token(prompt)
    return f" {found}:" if found else ":"


def body(note, gate, decision):
    return (
        "### Summary\n"
        f"Fake review of {note} against {gate}.\n\n"
        "### Findings\n"
        + (f"- {decision}: the fake reviewer found something.\n" if decision in ("WARN", "FAIL")
           else "- none\n")
        + f"\n## Result: {decision}\n"
    )


def blocks(pairs, decision, prompt):
    out = []
    sep = mark(prompt)
    for note, gate in pairs:
        key = f"{note} :: {gate}"
        out.append(
            f"=== PAIR REVIEW START{sep} {key} ===\n{body(note, gate, decision)}"
            f"=== PAIR REVIEW END{sep} {key} ===\n\n"
        )
    return "".join(out)


def wait_for(state, count, limit):
    """Wait until `count` calls have started (or `limit` seconds passed)."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if len(list(state.glob("call-*"))) >= count:
            return
        time.sleep(0.02)


def log(state, record):
    with open(state / "calls.jsonl", "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")
'''

_REVIEWER = (
    "#!/usr/bin/env python3\n"
    '"""FAKE REVIEWER for the tests: a command runner, not an LLM."""\n'
    + _COMMON
    + r"""

def main():
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--state", required=True)
    parser.add_argument("--omit", action="append", default=[],
                        help="a gate (or NOTE :: GATE) never answered")
    parser.add_argument("--omit-first", action="append", default=[],
                        help="gate not answered in the first call")
    parser.add_argument("--malformed", action="store_true")
    parser.add_argument("--silent", action="store_true")
    parser.add_argument("--exit", type=int, default=0)
    parser.add_argument("--stderr", default="")
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--barrier", type=int, default=0)
    parser.add_argument("--decision", default="PASS")
    parser.add_argument("--model", action="append", default=[],
                        help="the model telemetry names, per call (the last one repeats)")
    parser.add_argument("--cost", type=float)
    parser.add_argument("--telemetry", default="", help="a JSON object merged into telemetry")
    parser.add_argument("--prose", default="I reviewed the requested pairs.\n\n")
    args = parser.parse_args()

    state = Path(args.state)
    number = claim(state)
    started = time.time()
    prompt = sys.stdin.read()
    (state / f"prompt-{number}.md").write_text(prompt, encoding="utf-8")
    (state / f"env-{number}.json").write_text(
        json.dumps({k: v for k, v in os.environ.items() if k.startswith("COMMONPLACE_")}),
        encoding="utf-8",
    )
    if args.barrier:
        wait_for(state, args.barrier, 20.0)
    if args.sleep:
        time.sleep(args.sleep)

    telemetry = {}
    if args.model:
        telemetry["model"] = args.model[min(number, len(args.model)) - 1]
    if args.cost is not None:
        telemetry["cost_usd"] = args.cost
        telemetry["tokens"] = {"input": 1000, "output": 100, "cache_read": 500}
    if args.telemetry:
        telemetry.update(json.loads(args.telemetry))
    target = os.environ.get("COMMONPLACE_TELEMETRY_FILE")
    if telemetry and target:
        Path(target).write_text(json.dumps(telemetry), encoding="utf-8")

    omitted = set(args.omit) | (set(args.omit_first) if number == 1 else set())
    pairs = [(n, g) for n, g in requested(prompt) if not {g, f"{n} :: {g}"} & omitted]
    if args.malformed:
        note, gate = requested(prompt)[0]
        start = f"=== PAIR REVIEW START{mark(prompt)} {note} :: {gate} ==="
        output = f"{start}\n### Summary\nCut short.\n"
    elif args.silent:
        output = ""
    else:
        output = args.prose + blocks(pairs, args.decision, prompt)
    sys.stdout.write(output)
    sys.stdout.flush()
    if args.stderr:
        sys.stderr.write(args.stderr + "\n")
    log(state, {"call": number, "pid": os.getpid(), "start": started, "end": time.time(),
                "pairs": len(pairs)})
    sys.exit(args.exit)


main()
"""
)

_CODEX = (
    f"#!{sys.executable}\n"
    '"""FAKE CODEX for the tests: prints a `codex exec --json` stream, not an LLM."""\n'
    + _COMMON
    + r"""

def event(payload):
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


def write_rollout(thread_id, model, effort):
    # the session rollout codex keeps, where the adapter looks for it
    from datetime import datetime, timezone

    home = os.environ.get("CODEX_HOME") or os.path.join(os.environ["HOME"], ".codex")
    now = datetime.now(timezone.utc)
    folder = Path(home) / "sessions" / now.strftime("%Y/%m/%d")
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        {"type": "session_meta", "payload": {"id": thread_id, "cli_version": "0.0.0-fake"}},
        {"type": "turn_context", "payload": {"model": model, "effort": effort}},
        {"type": "event_msg", "payload": {"type": "task_complete", "duration_ms": 1234}},
    ]
    name = f"rollout-{now.strftime('%Y-%m-%dT%H-%M-%S')}-{thread_id}.jsonl"
    (folder / name).write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")


def main():
    argv = sys.argv[1:]
    if argv == ["--version"]:
        print("codex-cli 0.0.0-fake")
        return 0
    options = dict(a[len("--fake-"):].split("=", 1) for a in argv if a.startswith("--fake-"))
    state = Path(options["state"])
    number = claim(state)
    started = time.time()
    prompt = sys.stdin.read()
    (state / f"prompt-{number}.md").write_text(prompt, encoding="utf-8")
    (state / f"argv-{number}.json").write_text(json.dumps(argv), encoding="utf-8")
    if "barrier" in options:
        wait_for(state, int(options["barrier"]), 20.0)
    calls = lambda key: {int(n) for n in options.get(key, "").split(",") if n}  # noqa: E731
    limited = number in calls("limit-calls") or (
        "limit-from" in options and number >= int(options["limit-from"])
    )
    thread_id = f"fake-thread-{os.getpid()}-{number}"
    if "rollout-model" in options:
        write_rollout(thread_id, options["rollout-model"], options.get("rollout-effort"))
    event({"type": "thread.started", "thread_id": thread_id})
    event({"type": "turn.started"})
    if number in calls("sleep-calls"):
        time.sleep(120)
    if limited:
        message = LIMIT
        event({"type": "error", "message": message})
        event({"type": "turn.failed", "error": {"message": message}})
        code = 1
    else:
        text = "Review complete.\n\n" + blocks(requested(prompt), "PASS", prompt)
        event({"type": "item.completed",
               "item": {"id": "item_0", "type": "agent_message", "text": text}})
        event({"type": "turn.completed", "usage": {
            "input_tokens": 2000, "cached_input_tokens": 1500, "cache_write_input_tokens": 0,
            "output_tokens": 400, "reasoning_output_tokens": 60}})
        code = 0
    log(state, {"call": number, "pid": os.getpid(), "start": started, "end": time.time(),
                "limited": limited})
    return code


sys.exit(main())
"""
).replace("LIMIT", json.dumps(USAGE_LIMIT_MESSAGE), 1)


def _toml(value: Any) -> str:
    """A TOML value for strings, numbers and lists of strings."""
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))


def install_scripts(kb: Path) -> None:
    tools = kb / "tools"
    tools.mkdir(exist_ok=True)
    for name, source in ((REVIEWER, _REVIEWER), (CODEX, _CODEX)):
        path = kb / name
        path.write_text(source, encoding="utf-8")
        path.chmod(0o755)


def configure(kb: Path, tables: Mapping[str, Mapping[str, Any]], *, commit: bool = True) -> None:
    """Install the fake scripts and append `[<table>]` sections (e.g.
    `runners.fake` or `defaults`) to the KB's commonplace.toml, then commit, so
    that gates and notes stay clean."""
    install_scripts(kb)
    lines = []
    for table, settings in tables.items():
        lines.append(f"\n[{table}]")
        lines += [f"{key} = {_toml(value)}" for key, value in settings.items()]
    with (kb / "commonplace.toml").open("a", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    if commit:
        git(kb, "add", "-A", "--", "commonplace.toml", "tools")
        git(kb, "commit", "-q", "-m", "fake runners", "--", "commonplace.toml", "tools")


def reviewer_command(state: Path, *options: str) -> list[str]:
    return [sys.executable, REVIEWER, "--state", str(state), *options]


def add_reviewer(
    kb: Path, name: str, state: Path, *options: str, timeout: float | None = None
) -> None:
    """`[runners.<name>]` running the fake reviewer with these options."""
    settings: dict[str, Any] = {"command": reviewer_command(state, *options)}
    if timeout is not None:
        settings["timeout"] = timeout
    configure(kb, {f"runners.{name}": settings})


def add_codex(kb: Path, state: Path, **fake: str | int) -> None:
    """`[runners.codex]` with the fake codex as its binary; `fake` options
    (state is added) become `--fake-<key>=<value>` extra arguments."""
    extra = [f"--fake-{k.replace('_', '-')}={v}" for k, v in {"state": state, **fake}.items()]
    configure(kb, {"runners.codex": {"binary": str(kb / CODEX), "extra_args": extra}})


# --- reading what the fakes left -----------------------------------------------------------


def calls(state: Path) -> list[dict[str, Any]]:
    """The calls that finished, in the order they finished."""
    log = state / "calls.jsonl"
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


def started(state: Path) -> int:
    """How many calls started."""
    return len(list(state.glob("call-*"))) if state.exists() else 0


def prompt(state: Path, number: int) -> str:
    return (state / f"prompt-{number}.md").read_text(encoding="utf-8")


def pids(state: Path) -> list[int]:
    """The pid of every call that started."""
    return [int(p.read_text() or 0) for p in sorted(state.glob("call-*"))]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wait_until(condition: Any, what: str, limit: float = 30.0) -> None:
    """Poll `condition()` until it holds; fail naming `what` after `limit`
    seconds (a safety net for a hung test, not a timing assertion)."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"gave up waiting for {what}")


def running_runs(db: Target) -> int:
    """Runs the store shows `running` (0 while the store does not exist
    or is still being created)."""
    with polling(db) as value:
        return int(value("SELECT COUNT(*) FROM review_runs WHERE status = 'running'") or 0)


def statuses(db: Path) -> list[tuple[int, str, str | None]]:
    return [(run_id, *state) for run_id, state in run_states(db).items()]


def pairs_in(prompt_text: str) -> list[tuple[str, str]]:
    from commonplace.protocol.prompt import requested_pairs

    return [(p.note_path, p.gate_id) for p in requested_pairs(prompt_text)]


__all__ = (
    "CODEX",
    "REVIEWER",
    "USAGE_LIMIT_MESSAGE",
    "add_codex",
    "add_reviewer",
    "alive",
    "calls",
    "configure",
    "pairs_in",
    "pids",
    "prompt",
    "reviewer_command",
    "running_runs",
    "started",
    "statuses",
    "wait_until",
)
