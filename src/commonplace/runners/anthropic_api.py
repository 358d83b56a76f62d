"""`anthropic-api`: the Anthropic Messages API through the official SDK.

The prompt goes as content blocks cut where the prefix shared with other
batches ends (`Call.cache_points`), each cut a `cache_control` breakpoint, so
that a sweep's second and later requests read the instructions and gates
from the cache. `message_params` builds the request; the provider batch jobs
use it too.
"""

from __future__ import annotations

import re
from types import ModuleType
from typing import Any

from commonplace.protocol.prompt import REVIEWER_SYSTEM_PROMPT
from commonplace.runners.api_call import ApiAdapter, Reply
from commonplace.runners.base import Call, Failure, FailureKind
from commonplace.runners.telemetry import Tokens

DEFAULT_MAX_TOKENS = 32_000
REVIEW_ROOM = 8_192  # output tokens a thinking budget leaves for the review
# Models before adaptive thinking take a thinking budget instead of an effort.
_BUDGET_MODELS = re.compile(r"^claude-(?:3|(?:opus|sonnet|haiku)-4(?:-[015])?(?:-\d{8})?$)")
THINKING_BUDGETS = {"low": 2_048, "medium": 8_192, "high": 16_384, "xhigh": 32_000, "max": 48_000}


def prompt_blocks(call: Call) -> list[dict[str, Any]]:
    """The prompt as text blocks, a cache breakpoint at the end of each
    shared prefix (at most the API's four; empty cuts are skipped)."""
    cuts = sorted({p for p in call.cache_points if 0 < p < len(call.prompt)})[:4]
    blocks: list[dict[str, Any]] = []
    start = 0
    for cut in cuts:
        blocks.append(
            {"type": "text", "text": call.prompt[start:cut], "cache_control": {"type": "ephemeral"}}
        )
        start = cut
    blocks.append({"type": "text", "text": call.prompt[start:]})
    return blocks


def message_params(call: Call, *, max_tokens: int | None = None) -> dict[str, Any]:
    """The Messages API request for one call: single turn, no tools."""
    limit = max_tokens or DEFAULT_MAX_TOKENS
    params: dict[str, Any] = {
        "model": call.model,
        "system": REVIEWER_SYSTEM_PROMPT,
        "messages": [{"role": "user", "content": prompt_blocks(call)}],
    }
    if call.effort:
        if _BUDGET_MODELS.match(call.model):
            # the budget counts toward max_tokens: leave room for the review itself
            budget = THINKING_BUDGETS.get(call.effort, THINKING_BUDGETS["high"])
            budget = max(1_024, min(budget, limit - REVIEW_ROOM))
            params["thinking"] = {"type": "enabled", "budget_tokens": budget}
        else:
            params["thinking"] = {"type": "adaptive"}
            params["output_config"] = {"effort": call.effort}
    params["max_tokens"] = limit
    return params


def reply_of(message: Any) -> Reply:
    """A Messages API answer (SDK object) in our terms."""
    text = "".join(getattr(block, "text", "") for block in message.content if block.type == "text")
    usage = message.usage
    details = getattr(usage, "output_tokens_details", None)
    tokens = Tokens(
        input=usage.input_tokens,
        output=usage.output_tokens,
        cache_read=usage.cache_read_input_tokens,
        cache_write=usage.cache_creation_input_tokens,
        reasoning=getattr(details, "thinking_tokens", None),
    )
    stop: Failure | None = None
    reason = message.stop_reason
    if reason == "refusal":
        stop = Failure(FailureKind.REFUSAL, "anthropic-api: the model refused (refusal)")
    elif reason == "max_tokens":
        stop = Failure(
            FailureKind.CUT_OFF,
            f"anthropic-api: cut off at max_tokens ({usage.output_tokens} output tokens)",
        )
    elif reason == "model_context_window_exceeded":
        stop = Failure(
            FailureKind.CONTEXT_LENGTH, "anthropic-api: the model's context window was exceeded"
        )
    return Reply(
        text=text,
        model=message.model,
        request_id=getattr(message, "_request_id", None),
        tokens=tokens,
        stop=stop,
        details={"stop_reason": reason},
    )


class AnthropicApiAdapter(ApiAdapter):
    name = "anthropic-api"
    sdk = "anthropic"
    key_variable = "ANTHROPIC_API_KEY"
    base_url_variable = "ANTHROPIC_BASE_URL"
    input_includes_cache = False  # input, cache reads and cache writes come apart

    def client(self, module: ModuleType, key: str, base_url: str | None, timeout: float) -> Any:
        return module.Anthropic(api_key=key, base_url=base_url, max_retries=0, timeout=timeout)

    def send(self, client: Any, call: Call) -> Reply:
        params = message_params(call, max_tokens=self.settings.max_output_tokens)
        reply = reply_of(client.messages.create(**params))
        cuts = len(params["messages"][0]["content"]) - 1
        return Reply(**{**reply.__dict__, "details": {**reply.details, "cache_breakpoints": cuts}})
