"""Session logs of the harness CLIs made from the real ones captured in
../shared/vendor-formats: the vendor files rewritten as logs of other sessions,
at the places the CLIs keep them (what the session-log and repair tests read)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

from helpers.kb import VENDOR_FORMATS, require_shared

CLAUDE_LOG = "claude-2.1.197-session-log-ok.jsonl"
CODEX_ROLLOUT = "codex-0.169.0-rollout-ok.jsonl"
CLAUDE_SESSION = "11111111-2222-3333-4444-555555555555"
CODEX_THREAD = "01a1fb3c-e3b9-7911-b8c0-d0c8403621e4"
VENDOR_CWD = "/home/user/kb"
# The prompt both captured sessions were given.
VENDOR_PROMPT = (
    "Write gate reviews for the requested (note, gate) pairs listed below.\n\n"
    "Requested pairs:\n"
    "- kb/notes/alpha.md :: prose/source-residue\n"
    "- kb/notes/alpha.md :: semantic/internal-consistency\n\n"
)
CLAUDE_MODEL = "claude-sonnet-4-5"
CODEX_MODEL, CODEX_EFFORT = "gpt-5.5", "xhigh"
CODEX_DAY = "2026/11/20"  # the date folder of the captured rollout


def vendor_file(name: str) -> Path:
    """A file of ../shared/vendor-formats (skips when absent, fails in CI)."""
    return require_shared(VENDOR_FORMATS) / name


def with_marker(run_id: int, prompt: str = VENDOR_PROMPT) -> str:
    """The prompt naming a review run, as our prompts do."""
    return prompt.replace("Requested pairs:", f"Review run id: {run_id}\n\nRequested pairs:")


def _in_json(text: str) -> str:
    """`text` as it appears inside a JSON string."""
    return json.dumps(text)[1:-1]


def _rewrite(lines: list[str], replacements: dict[str, str]) -> list[str]:
    out = []
    for line in lines:
        for old, new in replacements.items():
            line = line.replace(old, new)
        out.append(line)
    return out


def _later_prompt(lines: list[str], prompt: str, later: str | None) -> list[str]:
    """A copy of the first user-prompt line carrying `later` instead, appended
    after the answer (an agent reading a prompt file mid-session)."""
    if later is None:
        return lines
    first = next(
        line
        for line in lines
        if _in_json(prompt) in line and '"role":"user"' in line.replace(" ", "")
    )
    return [*lines, first.replace(_in_json(prompt), _in_json(later))]


def claude_log(
    config_dir: Path,
    session_id: str,
    *,
    cwd: Path | str,
    prompt: str = VENDOR_PROMPT,
    models: Sequence[str] = (CLAUDE_MODEL,),
    later: str | None = None,
) -> Path:
    """The captured Claude Code session log as the log of another session: its
    id, working directory, prompt and served models (one answer each), at
    `<config dir>/projects/<cwd, non-alphanumerics as ->/<session id>.jsonl`."""
    lines = vendor_file(CLAUDE_LOG).read_text(encoding="utf-8").splitlines()
    lines = _rewrite(
        lines,
        {
            CLAUDE_SESSION: session_id,
            _in_json(VENDOR_CWD): _in_json(str(cwd)),
            _in_json(VENDOR_PROMPT): _in_json(prompt),
        },
    )
    answer = next(i for i, line in enumerate(lines) if '"type":"assistant"' in line)
    answers = [
        lines[answer]
        .replace(f'"model":"{CLAUDE_MODEL}"', json.dumps({"model": model})[1:-1])
        .replace('"msg_fake_1795216431745"', f'"msg_fake_{n}"')
        for n, model in enumerate(models)
    ]
    lines[answer : answer + 1] = answers
    path = config_dir / "projects" / re.sub(r"[^A-Za-z0-9]", "-", str(cwd)) / f"{session_id}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(_later_prompt(lines, prompt, later)) + "\n", encoding="utf-8")
    return path


def codex_rollout(
    codex_home: Path,
    thread_id: str,
    *,
    cwd: Path | str,
    prompt: str = VENDOR_PROMPT,
    model: str = CODEX_MODEL,
    effort: str = CODEX_EFFORT,
    later: str | None = None,
    archived: bool = False,
) -> Path:
    """The captured Codex rollout as the rollout of another thread: its id,
    working directory, prompt, model and effort, at
    `sessions/YYYY/MM/DD/rollout-<timestamp>-<thread id>.jsonl` (or in
    `archived_sessions/`)."""
    lines = vendor_file(CODEX_ROLLOUT).read_text(encoding="utf-8").splitlines()
    lines = _rewrite(
        lines,
        {
            CODEX_THREAD: thread_id,
            _in_json(VENDOR_CWD): _in_json(str(cwd)),
            _in_json(VENDOR_PROMPT): _in_json(prompt),
            json.dumps(CODEX_MODEL): json.dumps(model),
            json.dumps(CODEX_EFFORT): json.dumps(effort),
        },
    )
    folder = codex_home / ("archived_sessions" if archived else f"sessions/{CODEX_DAY}")
    path = folder / f"rollout-2026-11-20T23-13-54-{thread_id}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(_later_prompt(lines, prompt, later)) + "\n", encoding="utf-8")
    return path


def vendor_lines(vendor: Path, name: str) -> list[str]:
    """The lines of a file of the vendor-formats folder `vendor`."""
    return (vendor / name).read_text(encoding="utf-8").splitlines()
