"""`openai-api`: the OpenAI Responses API (default) or Chat Completions
(`api = "chat"`, what vLLM, Ollama and llama.cpp serve) through the official
SDK. Every request carries a `prompt_cache_key` derived from the prefix the
batches of a sweep share, so that requests with that prefix are routed to
the same cache. `request_params` builds the request; batch jobs use it too.
"""

from __future__ import annotations

import hashlib
from types import ModuleType
from typing import Any

from commonplace.protocol.prompt import REVIEWER_SYSTEM_PROMPT
from commonplace.runners.api_call import ApiAdapter, Reply
from commonplace.runners.base import Call, Failure, FailureKind
from commonplace.runners.telemetry import Tokens


def cache_key(call: Call) -> str:
    """The same for every call of a sweep that shares the prefix up to the
    gates every note gets (the second cache point, else the last): one key
    routes them all to one cache, where each finds its longest prefix."""
    points = [p for p in call.cache_points if 0 < p <= len(call.prompt)]
    end = points[1] if len(points) > 1 else max(points, default=0)
    digest = hashlib.sha256(call.prompt[:end].encode("utf-8", "replace")).hexdigest()
    return f"commonplace-{digest[:32]}"


def request_params(
    call: Call, *, api: str = "responses", max_tokens: int | None = None
) -> dict[str, Any]:
    """The request body for one call: single turn, no tools."""
    params: dict[str, Any] = {"model": call.model, "prompt_cache_key": cache_key(call)}
    if api == "chat":
        params["messages"] = [
            {"role": "system", "content": REVIEWER_SYSTEM_PROMPT},
            {"role": "user", "content": call.prompt},
        ]
        if call.effort:
            params["reasoning_effort"] = call.effort
        if max_tokens:
            params["max_completion_tokens"] = max_tokens
        return params
    params.update(instructions=REVIEWER_SYSTEM_PROMPT, input=call.prompt, store=False)
    if call.effort:
        params["reasoning"] = {"effort": call.effort}
    if max_tokens:
        params["max_output_tokens"] = max_tokens
    return params


def _refusal(text: str) -> Failure:
    return Failure(FailureKind.REFUSAL, f"openai-api: the model refused: {text[:200]}")


def response_reply(response: Any) -> Reply:
    """A Responses API answer in our terms."""
    refusals = [
        part.refusal
        for item in response.output
        if item.type == "message"
        for part in item.content
        if part.type == "refusal"
    ]
    usage = response.usage
    inputs = getattr(usage, "input_tokens_details", None)
    outputs = getattr(usage, "output_tokens_details", None)
    tokens = Tokens(
        input=usage.input_tokens if usage else None,
        output=usage.output_tokens if usage else None,
        cache_read=getattr(inputs, "cached_tokens", None),
        cache_write=getattr(inputs, "cache_write_tokens", None),
        reasoning=getattr(outputs, "reasoning_tokens", None),
    )
    stop: Failure | None = None
    incomplete = getattr(response.incomplete_details, "reason", None)
    if refusals:
        stop = _refusal(" ".join(refusals))
    elif incomplete == "max_output_tokens":
        stop = Failure(FailureKind.CUT_OFF, "openai-api: cut off at max_output_tokens")
    elif incomplete == "content_filter":
        stop = _refusal("content filter")
    elif response.status not in ("completed", None):
        stop = Failure(FailureKind.CRASH, f"openai-api: response {response.status}")
    return Reply(
        text=response.output_text or "",
        model=response.model,
        request_id=getattr(response, "_request_id", None),
        tokens=tokens,
        stop=stop,
        details={"status": response.status, "incomplete": incomplete},
    )


def chat_reply(completion: Any) -> Reply:
    """A Chat Completions answer in our terms."""
    choice = completion.choices[0] if completion.choices else None
    message = choice.message if choice else None
    usage = completion.usage
    prompt_details = getattr(usage, "prompt_tokens_details", None)
    completion_details = getattr(usage, "completion_tokens_details", None)
    tokens = Tokens(
        input=getattr(usage, "prompt_tokens", None),
        output=getattr(usage, "completion_tokens", None),
        cache_read=getattr(prompt_details, "cached_tokens", None),
        reasoning=getattr(completion_details, "reasoning_tokens", None),
    )
    finish = choice.finish_reason if choice else None
    stop: Failure | None = None
    if message is not None and getattr(message, "refusal", None):
        stop = _refusal(message.refusal)
    elif finish == "length":
        stop = Failure(FailureKind.CUT_OFF, "openai-api: cut off at the output token limit")
    elif finish == "content_filter":
        stop = _refusal("content filter")
    return Reply(
        text=(message.content or "") if message else "",
        model=completion.model,
        request_id=getattr(completion, "_request_id", None),
        tokens=tokens,
        stop=stop,
        details={"finish_reason": finish},
    )


class OpenAIApiAdapter(ApiAdapter):
    name = "openai-api"
    sdk = "openai"
    key_variable = "OPENAI_API_KEY"
    base_url_variable = "OPENAI_BASE_URL"
    input_includes_cache = True  # cached input is counted inside input

    def client(self, module: ModuleType, key: str, base_url: str | None, timeout: float) -> Any:
        return module.OpenAI(api_key=key, base_url=base_url, max_retries=0, timeout=timeout)

    def send(self, client: Any, call: Call) -> Reply:
        api = self.settings.api or "responses"
        params = request_params(call, api=api, max_tokens=self.settings.max_output_tokens)
        if api == "chat":
            reply = chat_reply(client.chat.completions.create(**params))
        else:
            reply = response_reply(client.responses.create(**params))
        details = {**reply.details, "api": api, "prompt_cache_key": params["prompt_cache_key"]}
        return Reply(**{**reply.__dict__, "details": details})
