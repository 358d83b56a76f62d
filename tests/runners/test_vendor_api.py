"""The real harness CLIs (claude 2.1.197, codex 0.169.0) against the local fake
vendor API, run directly as subprocesses (no project code), prompt on stdin; and
the fake API itself."""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable
from pathlib import Path

import pytest
from helpers.vendor_api import (
    PLAIN_ANSWER,
    Answerer,
    CliRun,
    Usage,
    VendorAPI,
    boundary_token,
    claude_env,
    codex_env,
    is_side_request,
    requested_pairs,
    review_block,
    run_cli,
)

NOTE = "kb/notes/alpha.md"
RESIDUE = "prose/source-residue"
CONSISTENCY = "semantic/internal-consistency"
PAIRS = [f"{NOTE} :: {RESIDUE}", f"{NOTE} :: {CONSISTENCY}"]
# A CLI run against the local server takes about a second; this only bounds a
# stuck one.
TIMEOUT = 60


def review_prompt(pairs: Iterable[str]) -> str:
    listed = "".join(f"- {pair}\n" for pair in pairs)
    return (
        "Write gate reviews for the requested (note, gate) pairs.\n"
        "\n"
        "## Requested pairs\n"
        "\n"
        f"{listed}"
        "\n"
        "## Output\n"
        "\n"
        "One block per pair, in the pair review grammar.\n"
    )


def kb_dir(tmp_path: Path) -> Path:
    kb = tmp_path / "kb"
    (kb / "kb" / "notes").mkdir(parents=True)
    (kb / "kb" / "notes" / "alpha.md").write_text("# Alpha\n\nA note.\n")
    return kb


def offline(env: dict[str, str], api: VendorAPI) -> dict[str, str]:
    """``env`` with the server as the proxy for everything else, so traffic meant
    for the internet shows up as CONNECT requests."""
    return {**env, "HTTPS_PROXY": api.base_url, "HTTP_PROXY": api.base_url}


def claude_argv(cli: str, model: str, session_id: str, *extra: str) -> list[str]:
    return [
        cli,
        "-p",
        "--output-format",
        "stream-json",
        "--verbose",
        "--model",
        model,
        *extra,
        "--tools",
        "Read,Glob,Grep",
        "--session-id",
        session_id,
    ]


def codex_argv(cli: str, kb: Path, model: str = "gpt-5.5", effort: str = "xhigh") -> list[str]:
    return [
        cli,
        "exec",
        "--json",
        "--sandbox",
        "read-only",
        "--skip-git-repo-check",
        "-C",
        str(kb),
        "--model",
        model,
        "-c",
        f"model_reasoning_effort={effort}",
        "-",
    ]


def assistant_text(run: CliRun) -> str:
    return "\n".join(
        block["text"]
        for event in run.of_type("assistant")
        for block in event["message"]["content"]
        if block.get("type") == "text"
    )


def agent_messages(run: CliRun) -> list[str]:
    return [
        e["item"]["text"]
        for e in run.of_type("item.completed")
        if e["item"].get("type") == "agent_message"
    ]


def rollout_of(codex_home: Path, thread_id: str) -> Path:
    found = list((codex_home / "sessions").glob(f"*/*/*/rollout-*-{thread_id}.jsonl"))
    assert len(found) == 1, found
    assert re.fullmatch(
        r"\d{4}/\d{2}/\d{2}", found[0].parent.relative_to(codex_home / "sessions").as_posix()
    )
    return found[0]


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def retries_429(events: list[dict]) -> list[dict]:
    return [
        e
        for e in events
        if e.get("type") == "system"
        and e.get("subtype") == "api_retry"
        and e.get("error_status") == 429
    ]


# ---------------------------------------------------------------------------
# The answer builder, without CLIs


def test_review_block_grammar() -> None:
    assert review_block(PAIRS[0]) == (
        f"=== PAIR REVIEW START: {NOTE} :: {RESIDUE} ===\n"
        "### Summary\n"
        f"Checked {NOTE} against {RESIDUE}.\n"
        "\n"
        "### Findings\n"
        "- none\n"
        "\n"
        "## Result: PASS\n"
        f"=== PAIR REVIEW END: {NOTE} :: {RESIDUE} ===\n"
    )
    warn = review_block(PAIRS[1], "WARN")
    assert f"- WARN: example finding for {CONSISTENCY}.\n" in warn
    assert "## Result: WARN\n" in warn
    with pytest.raises(ValueError):
        review_block(PAIRS[0], "ERROR")


def test_requested_pairs_are_read_from_the_section() -> None:
    assert requested_pairs(review_prompt(PAIRS)) == PAIRS
    assert requested_pairs("no section here") is None
    assert requested_pairs("## Requested pairs\n\n## Output\n") == []


def test_a_pairs_v2_prompt_is_answered_with_its_boundary_token() -> None:
    token = "Batch_token-0123456789"
    prompt = review_prompt(PAIRS).replace("One block", f"Boundary token: `{token}`. One block")
    assert boundary_token(prompt) == token
    assert boundary_token(review_prompt(PAIRS)) is None
    text = Answerer().answer({"messages": [{"role": "user", "content": prompt}]})
    assert review_block(PAIRS[0], "PASS", token) in text
    assert f"=== PAIR REVIEW END {token}: {PAIRS[1]} ===" in text
    assert "=== PAIR REVIEW START: " not in text


def test_answer_has_one_block_per_pair_with_decisions() -> None:
    answerer = Answerer(decisions={CONSISTENCY: "fail"})
    body = {"messages": [{"role": "user", "content": review_prompt(PAIRS)}]}
    text = answerer.answer(body)
    assert text.startswith("Review complete.\n\n")
    assert review_block(PAIRS[0], "PASS") in text
    assert review_block(PAIRS[1], "FAIL") in text
    assert answerer.answer({"messages": [{"role": "user", "content": "hi"}]}) == PLAIN_ANSWER
    with pytest.raises(ValueError):
        Answerer(decisions={RESIDUE: "maybe"})


def test_omit_once_leaves_a_pair_out_only_the_first_time() -> None:
    answerer = Answerer(omit=[PAIRS[1]])
    first = answerer.review(PAIRS)
    assert f"START: {PAIRS[0]} ===" in first
    assert PAIRS[1] not in first
    # The follow-up asking only for the missing pair gets it; so does any later ask.
    assert f"START: {PAIRS[1]} ===" in answerer.review([PAIRS[1]])
    assert f"START: {PAIRS[1]} ===" in answerer.review(PAIRS)
    assert answerer.omitted == [PAIRS[1]]


def test_omit_always_when_not_once() -> None:
    answerer = Answerer(omit=[PAIRS[0]], omit_once=False)
    for _ in range(3):
        text = answerer.review(PAIRS)
        assert PAIRS[0] not in text
        assert f"START: {PAIRS[1]} ===" in text


def test_title_side_request_is_no_review_request() -> None:
    # What claude sends to generate a session title when non-essential traffic is on.
    body = {
        "model": "claude-haiku-4-5-20251001",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": f"<session>\n{review_prompt(PAIRS)}</session>"}
                ],
            }
        ],
        "output_config": {
            "format": {
                "type": "json_schema",
                "schema": {"type": "object", "properties": {"title": {"type": "string"}}},
            }
        },
    }
    assert is_side_request(body)
    answerer = Answerer(omit=[PAIRS[0]])
    assert set(json.loads(answerer.answer(body))) == {"title"}
    assert answerer.omitted == []


# ---------------------------------------------------------------------------
# The server over HTTP, without CLIs


def post(url: str, body: dict, timeout: float = 5) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def sse(raw: bytes) -> list[tuple[str, dict]]:
    events = []
    for chunk in raw.decode().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in chunk.splitlines() if ": " in line)
        if "event" in lines:
            events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_messages_stream_over_http() -> None:
    with VendorAPI(served_model="claude-opus-4-6") as api:
        body = {
            "model": "claude-sonnet-4-5",
            "stream": True,
            "messages": [{"role": "user", "content": review_prompt(PAIRS)}],
            "tools": [{"name": "Read", "input_schema": {}}],
        }
        status, _headers, raw = post(f"{api.base_url}/v1/messages?beta=true", body)
    assert status == 200
    events = sse(raw)
    names = [name for name, _ in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    start = events[0][1]["message"]
    assert start["model"] == "claude-opus-4-6"
    assert start["usage"]["input_tokens"] == 1200
    assert start["usage"]["cache_read_input_tokens"] == 800
    assert start["usage"]["cache_creation_input_tokens"] == 200
    assert events[-2][1]["usage"]["output_tokens"] == 340
    text = "".join(e["delta"]["text"] for n, e in events if n == "content_block_delta")
    assert all(f"=== PAIR REVIEW END: {pair} ===" in text for pair in PAIRS)
    (rec,) = api.review_requests()
    assert rec.model == "claude-sonnet-4-5"
    assert rec.tool_names == ["Read"]
    assert rec.requested_pairs == PAIRS


def test_other_messages_endpoints_over_http() -> None:
    with VendorAPI() as api:
        body = {"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "hi"}]}
        status, _, raw = post(f"{api.base_url}/v1/messages", body)
        assert status == 200
        message = json.loads(raw)
        assert message["model"] == "claude-haiku-4-5"
        assert message["content"] == [{"type": "text", "text": PLAIN_ANSWER}]
        assert message["usage"]["output_tokens"] == 340
        status, _, raw = post(f"{api.base_url}/v1/messages/count_tokens", body)
        assert (status, json.loads(raw)) == (200, {"input_tokens": 1200})
        status, _, _ = post(f"{api.base_url}/v1/elsewhere", body)
        assert status == 404
        head = urllib.request.Request(f"{api.base_url}/", method="HEAD")
        with urllib.request.urlopen(head, timeout=5) as response:
            assert response.status == 200
        assert [r.api for r in api.snapshot()] == ["messages", "count_tokens", "other", "other"]
        assert api.review_requests() == []


def test_responses_stream_over_http() -> None:
    usage = Usage(responses_input_tokens=10, responses_cached_tokens=4, responses_output_tokens=3)
    with VendorAPI(usage=usage) as api:
        body = {
            "model": "gpt-5.5",
            "stream": True,
            "reasoning": {"effort": "xhigh"},
            "input": [
                {
                    "type": "message",
                    "role": "developer",
                    "content": [{"type": "input_text", "text": "x"}],
                },
                {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": review_prompt(PAIRS)}],
                },
            ],
        }
        status, headers, raw = post(f"{api.base_url}/v1/responses", body)
    assert status == 200
    assert headers["openai-model"] == "gpt-5.5"
    events = sse(raw)
    assert [n for n, _ in events][:2] == ["response.created", "response.in_progress"]
    assert events[-1][0] == "response.completed"
    completed = events[-1][1]["response"]
    assert completed["usage"]["input_tokens"] == 10
    assert completed["usage"]["input_tokens_details"]["cached_tokens"] == 4
    assert completed["usage"]["output_tokens_details"]["reasoning_tokens"] == 60
    assert "=== PAIR REVIEW START" in completed["output"][0]["content"][0]["text"]
    (rec,) = api.review_requests()
    assert (rec.model, rec.effort) == ("gpt-5.5", "xhigh")


def test_rate_limit_and_usage_limit_over_http() -> None:
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    with VendorAPI(mode="rate_limit", retry_after=2) as api:
        status, headers, raw = post(f"{api.base_url}/v1/messages", body)
        assert status == 429
        assert json.loads(raw)["error"]["type"] == "rate_limit_error"
        assert headers["x-should-retry"] == "true"
        assert headers["retry-after"] == "2"
        assert headers["anthropic-ratelimit-requests-remaining"] == "0"
        status, _, raw = post(f"{api.base_url}/v1/responses", {"model": "m"})
        assert status == 429
        assert json.loads(raw)["error"]["type"] == "rate_limit_exceeded"
    with VendorAPI(mode="usage_limit") as api:
        status, headers, _ = post(f"{api.base_url}/v1/messages", body)
        assert (status, headers["x-should-retry"]) == (429, "false")
        status, _, raw = post(f"{api.base_url}/v1/responses", {"model": "m"})
        assert status == 429
        assert json.loads(raw)["error"]["type"] == "usage_limit_reached"


def test_hang_mode_answers_nothing_and_stops_promptly() -> None:
    api = VendorAPI(mode="hang").start()
    outcome: list[object] = []

    def ask() -> None:
        try:
            outcome.append(post(f"{api.base_url}/v1/messages", {"model": "m"}, timeout=30))
        except Exception as error:
            outcome.append(error)

    thread = threading.Thread(target=ask, daemon=True)
    thread.start()
    assert api.wait_for(1, api="messages", timeout=5)
    time.sleep(0.5)
    assert outcome == []
    started = time.monotonic()
    api.stop()
    assert time.monotonic() - started < 3
    thread.join(timeout=5)
    assert outcome and not isinstance(outcome[0], tuple)  # the connection was closed


def test_the_server_stops_by_itself_after_its_lifetime() -> None:
    with VendorAPI(lifetime=0.3) as api:
        status, _, _ = post(f"{api.base_url}/v1/messages/count_tokens", {"model": "m"})
        assert status == 200
        time.sleep(0.8)
        assert api.stopped
        with pytest.raises(OSError):
            post(f"{api.base_url}/v1/messages/count_tokens", {"model": "m"}, timeout=2)


# ---------------------------------------------------------------------------
# claude


def test_claude_reviews_against_the_server(
    claude_cli: str, vendor_api: VendorAPI, tmp_path: Path
) -> None:
    kb = kb_dir(tmp_path)
    home = tmp_path / "home"
    session_id = str(uuid.uuid4())
    argv = claude_argv(claude_cli, "claude-sonnet-4-5", session_id, "--effort", "high")
    env = offline(claude_env(vendor_api, home), vendor_api)
    run = run_cli(argv, cwd=kb, env=env, stdin=review_prompt(PAIRS), timeout=TIMEOUT)

    assert run.returncode == 0, run.stderr
    (init,) = run.of_type("system", "init")
    assert init["session_id"] == session_id
    assert init["model"] == "claude-sonnet-4-5"
    assert sorted(init["tools"]) == ["Glob", "Grep", "Read"]
    text = assistant_text(run)
    for pair in PAIRS:
        assert f"=== PAIR REVIEW START: {pair} ===" in text
        assert f"=== PAIR REVIEW END: {pair} ===" in text
    (result,) = run.of_type("result")
    assert result["is_error"] is False
    assert result["usage"]["input_tokens"] == 1200
    assert result["usage"]["output_tokens"] == 340
    assert result["usage"]["cache_read_input_tokens"] == 800
    assert result["usage"]["cache_creation_input_tokens"] == 200
    assert result["total_cost_usd"] > 0
    assert result["modelUsage"]["claude-sonnet-4-5"]["inputTokens"] == 1200

    (rec,) = vendor_api.review_requests()
    assert rec.path.startswith("/v1/messages")
    assert rec.model == "claude-sonnet-4-5"
    assert rec.requested_pairs == PAIRS
    assert not {"Bash", "Edit", "Write"} & set(rec.tool_names)
    assert set(rec.tool_names) == {"Read", "Glob", "Grep"}
    # claude-sonnet-4-5 takes no effort: --effort is not sent, thinking has a budget.
    assert rec.effort is None
    assert rec.thinking is not None and rec.thinking["type"] == "enabled"
    assert rec.headers["x-api-key"] == env["ANTHROPIC_API_KEY"]
    # One API request (no side request such as title generation), and no traffic
    # meant for the internet.
    assert len(vendor_api.api_requests("messages")) == 1
    assert not vendor_api.api_requests("connect")

    folder = re.sub(r"[^A-Za-z0-9]", "-", str(kb))
    log = home / ".claude" / "projects" / folder / f"{session_id}.jsonl"
    assert log.is_file(), sorted(p.as_posix() for p in (home / ".claude").rglob("*"))
    entries = jsonl(log)
    assert any(
        e.get("type") == "assistant" and e["message"]["usage"]["output_tokens"] == 340
        for e in entries
    )


def test_claude_reports_the_served_model(claude_cli: str, tmp_path: Path) -> None:
    kb = kb_dir(tmp_path)
    with VendorAPI(served_model="claude-opus-4-6") as api:
        argv = claude_argv(claude_cli, "sonnet", str(uuid.uuid4()), "--effort", "low")
        env = claude_env(api, tmp_path / "home")
        run = run_cli(argv, cwd=kb, env=env, stdin=review_prompt(PAIRS[:1]), timeout=TIMEOUT)
    assert run.returncode == 0, run.stderr
    (assistant,) = run.of_type("assistant")
    assert assistant["message"]["model"] == "claude-opus-4-6"
    # The alias is resolved by the CLI; init and modelUsage name the requested model.
    (init,) = run.of_type("system", "init")
    (result,) = run.of_type("result")
    assert init["model"] != "claude-opus-4-6"
    assert list(result["modelUsage"]) == [init["model"]]
    (rec,) = api.review_requests()
    assert rec.model == init["model"]
    # Models with effort support get it as output_config.effort.
    assert rec.effort == "low"
    # 2.1.337 adds `display`: the type is what matters
    assert rec.thinking is not None and rec.thinking["type"] == "adaptive"


def test_claude_retries_on_429(claude_cli: str, tmp_path: Path) -> None:
    kb = kb_dir(tmp_path)
    with VendorAPI(mode="rate_limit") as api:
        argv = claude_argv(claude_cli, "claude-sonnet-4-5", str(uuid.uuid4()))
        run = run_cli(
            argv,
            cwd=kb,
            env=claude_env(api, tmp_path / "home"),
            stdin=review_prompt(PAIRS),
            timeout=20,
            until=lambda events: len(retries_429(events)) >= 2,
        )
        messages = api.api_requests("messages")
    assert run.killed, run.stdout
    retries = retries_429(run.events)
    assert len(retries) >= 2
    assert [r["attempt"] for r in retries[:2]] == [1, 2]
    assert retries[0]["error"] == "rate_limit"
    assert retries[0]["max_retries"] == 10
    assert retries[1]["retry_delay_ms"] > retries[0]["retry_delay_ms"]
    assert not run.of_type("result")
    assert len(messages) >= 2


def test_claude_gives_up_at_once_on_a_usage_limit(claude_cli: str, tmp_path: Path) -> None:
    kb = kb_dir(tmp_path)
    with VendorAPI(mode="usage_limit") as api:
        argv = claude_argv(claude_cli, "claude-sonnet-4-5", str(uuid.uuid4()))
        env = claude_env(api, tmp_path / "home")
        run = run_cli(argv, cwd=kb, env=env, stdin=review_prompt(PAIRS), timeout=TIMEOUT)
    assert run.returncode == 1
    assert not retries_429(run.events)
    (result,) = run.of_type("result")
    assert result["is_error"] is True
    assert result["api_error_status"] == 429
    assert "429" in result["result"]


def test_claude_waits_on_a_hung_server(claude_cli: str, tmp_path: Path) -> None:
    kb = kb_dir(tmp_path)
    with VendorAPI(mode="hang") as api:
        argv = claude_argv(claude_cli, "claude-sonnet-4-5", str(uuid.uuid4()))
        env = claude_env(api, tmp_path / "home")
        run = run_cli(argv, cwd=kb, env=env, stdin=review_prompt(PAIRS), timeout=5)
        assert api.review_requests()
    assert run.killed
    assert run.of_type("system", "init")
    assert not run.of_type("assistant")
    assert not run.of_type("result")


# ---------------------------------------------------------------------------
# codex


def test_codex_reviews_against_the_server(
    codex_cli: str, vendor_api: VendorAPI, tmp_path: Path
) -> None:
    kb = kb_dir(tmp_path)
    home = tmp_path / "home"
    env = offline(codex_env(vendor_api, home), vendor_api)
    run = run_cli(
        codex_argv(codex_cli, kb),
        cwd=tmp_path,
        env=env,
        stdin=review_prompt(PAIRS),
        timeout=TIMEOUT,
    )

    assert run.returncode == 0, run.stderr
    (started,) = run.of_type("thread.started")
    thread_id = started["thread_id"]
    (text,) = agent_messages(run)
    for pair in PAIRS:
        assert f"=== PAIR REVIEW START: {pair} ===" in text
        assert f"=== PAIR REVIEW END: {pair} ===" in text
    (completed,) = run.of_type("turn.completed")
    assert completed["usage"]["input_tokens"] == 2000
    assert completed["usage"]["cached_input_tokens"] == 1500
    assert completed["usage"]["output_tokens"] == 400
    assert completed["usage"]["reasoning_output_tokens"] == 60

    (rec,) = vendor_api.review_requests()
    assert rec.path == "/v1/responses"
    assert rec.model == "gpt-5.5"
    assert rec.effort == "xhigh"
    assert rec.requested_pairs == PAIRS
    assert rec.headers["authorization"] == f"Bearer {env['FAKE_VENDOR_API_KEY']}"
    assert len(vendor_api.api_requests("responses")) == 1
    assert not vendor_api.api_requests("connect")  # nothing meant for the internet

    rollout = jsonl(rollout_of(home / ".codex", thread_id))
    (context,) = [e["payload"] for e in rollout if e["type"] == "turn_context"]
    assert (context["model"], context["effort"]) == ("gpt-5.5", "xhigh")
    (meta,) = [e["payload"] for e in rollout if e["type"] == "session_meta"]
    assert meta["id"] == thread_id
    assert meta["model_provider"] == "fake"


def test_codex_shows_a_served_model_only_as_a_reroute_error_item(
    codex_cli: str, tmp_path: Path
) -> None:
    kb = kb_dir(tmp_path)
    home = tmp_path / "home"
    with VendorAPI(served_model="gpt-5.4-mini") as api:
        env = codex_env(api, home)
        run = run_cli(
            codex_argv(codex_cli, kb),
            cwd=tmp_path,
            env=env,
            stdin=review_prompt(PAIRS),
            timeout=TIMEOUT,
        )
    assert run.returncode == 0, run.stderr
    # codex compares the `openai-model` response header with the requested model
    # (the response body's `model` is ignored) and reports a reroute as
    # `error` items, then goes on normally.
    errors = [
        e["item"]["message"]
        for e in run.of_type("item.completed")
        if e["item"].get("type") == "error"
    ]
    assert "model rerouted: gpt-5.5 -> gpt-5.4-mini" in errors[0]
    assert len(agent_messages(run)) == 1
    assert run.of_type("turn.completed")
    # The rollout still names the requested model, and never the served one.
    thread_id = run.of_type("thread.started")[0]["thread_id"]
    path = rollout_of(home / ".codex", thread_id)
    (context,) = [e["payload"] for e in jsonl(path) if e["type"] == "turn_context"]
    assert context["model"] == "gpt-5.5"
    assert "gpt-5.4-mini" not in path.read_text()


def test_codex_ignores_the_model_in_the_response_body(codex_cli: str, tmp_path: Path) -> None:
    kb = kb_dir(tmp_path)
    with VendorAPI(served_model="gpt-5.4-mini", model_header=False) as api:
        env = codex_env(api, tmp_path / "home")
        run = run_cli(
            codex_argv(codex_cli, kb),
            cwd=tmp_path,
            env=env,
            stdin=review_prompt(PAIRS),
            timeout=TIMEOUT,
        )
    assert run.returncode == 0, run.stderr
    assert "gpt-5.4-mini" not in run.stdout
    assert [e["item"]["type"] for e in run.of_type("item.completed")] == ["agent_message"]


def test_codex_reports_a_usage_limit(codex_cli: str, tmp_path: Path) -> None:
    kb = kb_dir(tmp_path)
    with VendorAPI(mode="usage_limit") as api:
        env = codex_env(api, tmp_path / "home")
        run = run_cli(
            codex_argv(codex_cli, kb), cwd=tmp_path, env=env, stdin=review_prompt(PAIRS), timeout=15
        )
    assert not run.killed
    assert run.returncode == 1
    (error,) = run.of_type("error")
    (failed,) = run.of_type("turn.failed")
    assert error["message"].startswith("You’ve hit your usage limit")
    assert failed["error"]["message"] == error["message"]


def test_codex_fails_fast_on_a_rate_limit(codex_cli: str, tmp_path: Path) -> None:
    kb = kb_dir(tmp_path)
    with VendorAPI(mode="rate_limit") as api:
        env = codex_env(api, tmp_path / "home")
        run = run_cli(
            codex_argv(codex_cli, kb), cwd=tmp_path, env=env, stdin=review_prompt(PAIRS), timeout=15
        )
        responses = api.api_requests("responses")
    assert run.returncode == 1
    assert len(responses) == 1  # request_max_retries = 0
    (failed,) = run.of_type("turn.failed")
    assert "429" in failed["error"]["message"]


def test_codex_gets_omitted_pairs_on_the_follow_up(codex_cli: str, tmp_path: Path) -> None:
    kb = kb_dir(tmp_path)
    with VendorAPI(omit=[PAIRS[1]], decisions={CONSISTENCY: "WARN"}) as api:
        env = codex_env(api, tmp_path / "home")
        argv = codex_argv(codex_cli, kb, effort="low")
        first = run_cli(argv, cwd=tmp_path, env=env, stdin=review_prompt(PAIRS), timeout=TIMEOUT)
        again = run_cli(
            argv, cwd=tmp_path, env=env, stdin=review_prompt(PAIRS[1:]), timeout=TIMEOUT
        )
        asked = [r.requested_pairs for r in api.review_requests()]
    assert (first.returncode, again.returncode) == (0, 0)
    (text,) = agent_messages(first)
    assert f"START: {PAIRS[0]} ===" in text
    assert PAIRS[1] not in text
    (text,) = agent_messages(again)
    assert review_block(PAIRS[1], "WARN") in text
    assert asked == [PAIRS, PAIRS[1:]]
