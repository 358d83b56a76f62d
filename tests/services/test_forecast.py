"""The forecast before spend (`services.forecast`): tokens from prompt
characters, the cache share from the prompts' cache points, costs from the
price table, and the budget check. The prompts are built by hand here, so
that every figure can be worked out; the command-line tests
(tests/cli/test_forecast_cli.py) forecast real sweeps."""

from __future__ import annotations

import pytest

from commonplace.errors import UserError
from commonplace.protocol.grammar import Pair
from commonplace.protocol.prompt import RenderedPrompt
from commonplace.runners.pricing import PriceTable, Usage, cost_of, list_cost
from commonplace.services.execution import RunnerCall
from commonplace.services.forecast import (
    DEFAULT_CHARS_PER_TOKEN,
    DEFAULT_OUTPUT_PER_PAIR,
    MIN_CACHEABLE_TOKENS,
    BatchEstimate,
    Forecast,
    Forecaster,
    check_budget,
)
from commonplace.services.sweeps import SweepOptions, prepare_runner
from commonplace.workspace import Workspace

RATIO = DEFAULT_CHARS_PER_TOKEN["anthropic"]
SONNET = PriceTable().find("claude-sonnet-4-5")
SHARED = "g" * 14_000  # 4,000 tokens at 3.5 characters per token: cacheable


def prompt(head: str, note: str, pairs: int = 2, name: str = "kb/notes/a.md") -> RenderedPrompt:
    """A prompt whose shared prefix is `head`, cut at its end."""
    text = head + note
    gates = tuple(Pair(name, f"lens/g{i}") for i in range(pairs))
    return RenderedPrompt(text, gates, static_end=len(head) // 2, shared_prefix_end=len(head))


def runner(
    ws: Workspace, name: str = "anthropic-api", model: str = "claude-sonnet-4-5"
) -> RunnerCall:
    return prepare_runner(ws, SweepOptions(runner=name, model=model, dry_run=True))


def forecast(
    ws: Workspace,
    prompts: list[RenderedPrompt],
    call: RunnerCall | None = None,
    *,
    jobs: int = 1,
    budget: float | None = None,
    batch_jobs: bool = False,
) -> tuple[list[BatchEstimate], Forecast]:
    forecaster = Forecaster(
        ws.store,
        call or runner(ws),
        PriceTable(),
        prompts,
        jobs=jobs,
        budget=budget,
        batch_jobs=batch_jobs,
    )
    estimates = list(forecaster.estimates())
    return estimates, forecaster.total()


def test_the_first_batch_writes_the_shared_prefix_and_the_others_read_it(ws: Workspace) -> None:
    prompts = [prompt(SHARED, f"note {i} " * 500, name=f"kb/notes/n{i}.md") for i in range(3)]
    estimates, total = forecast(ws, prompts)
    shared = round(len(SHARED) / RATIO)
    assert [e.cache_write_tokens for e in estimates] == [shared, 0, 0]
    assert [e.cache_read_tokens for e in estimates] == [0, shared, shared]
    assert [e.input_tokens for e in estimates] == [round(p.chars / RATIO) for p in prompts]
    assert [e.prompt_chars for e in estimates] == [p.chars for p in prompts]
    # the totals are the sums of the batches
    assert total.batches == 3 and total.pairs == 6 and total.notes == 3
    assert total.prompt_chars == sum(p.chars for p in prompts)
    assert total.input_tokens == sum(e.input_tokens for e in estimates)
    assert total.cache_read_tokens == 2 * shared and total.cache_write_tokens == shared
    assert total.output_tokens == 6 * DEFAULT_OUTPUT_PER_PAIR
    assert total.calibration.batches == 0 and total.calibration.source == "default for anthropic"
    assert 0.5 < total.cache_share < 0.7


def test_costs_at_list_price_with_caching_and_with_batch_jobs(ws: Workspace) -> None:
    prompts = [prompt(SHARED, f"note {i} " * 500) for i in range(4)]
    _, total = forecast(ws, prompts)
    assert SONNET is not None and total.costs is not None and total.model == "claude-sonnet-4-5"
    usage = Usage(
        total.uncached_tokens,
        total.cache_write_tokens,
        total.cache_read_tokens,
        total.output_tokens,
    )
    assert total.costs.list == pytest.approx(list_cost(SONNET, usage))
    assert total.costs.cached == pytest.approx(cost_of(SONNET, usage))
    assert total.costs.batch_cached == pytest.approx(cost_of(SONNET, usage, batch=True))
    unbatched = Usage(total.input_tokens, 0, 0, total.output_tokens)
    assert total.costs.batch == pytest.approx(cost_of(SONNET, unbatched, batch=True))
    costs = total.costs
    assert costs.list > costs.cached > costs.batch_cached and costs.batch > costs.batch_cached
    assert total.payable() == costs.cached and total.payable(batch_jobs=True) == costs.batch_cached
    assert "claude.com" in (total.price_source or "") and total.remarks == ()


def test_batches_launched_together_each_write_the_prefix(ws: Workspace) -> None:
    prompts = [prompt(SHARED, f"note {i} " * 100) for i in range(4)]
    estimates, _ = forecast(ws, prompts, jobs=2)
    # the second starts before the first has written the prefix
    assert [e.cache_read_tokens > 0 for e in estimates] == [False, False, True, True]
    assert [e.cache_write_tokens > 0 for e in estimates] == [True, True, False, False]


def test_a_prefix_below_the_minimum_cacheable_length_is_not_cached(ws: Workspace) -> None:
    short = "s" * int((MIN_CACHEABLE_TOKENS - 10) * RATIO)
    _, total = forecast(ws, [prompt(short, "note " * 300) for _ in range(3)])
    assert total.cache_read_tokens == total.cache_write_tokens == 0
    assert total.uncached_tokens == total.input_tokens > 0


def test_different_prefixes_are_each_written_once(ws: Workspace) -> None:
    other = "h" * len(SHARED)
    prompts = [prompt(head, "note " * 200) for head in (SHARED, SHARED, other, other)]
    estimates, _ = forecast(ws, prompts)
    assert [e.cache_read_tokens > 0 for e in estimates] == [False, True, False, True]


def test_a_model_missing_from_the_price_table_gets_tokens_and_no_cost(ws: Workspace) -> None:
    call = runner(ws, model="llama3.1:8b")
    _, total = forecast(ws, [prompt(SHARED, "note")], call)
    assert total.costs is None and total.payable() is None and total.price_source is None
    assert total.input_tokens > 0 and total.output_tokens > 0
    (remark,) = total.remarks
    assert remark.startswith("no price for model llama3.1:8b in the pricing table")
    with pytest.raises(UserError, match="cannot check --max-cost-usd 5: no price for model"):
        check_budget(total, 5.0)


def test_a_cli_runner_is_priced_at_the_api_list_price_and_says_so(ws: Workspace) -> None:
    _, total = forecast(ws, [prompt(SHARED, "note")], runner(ws, "claude-code"))
    assert total.costs is not None
    (remark,) = total.remarks
    assert "API list prices" in remark and "subscription" in remark


def test_a_command_runner_without_a_price_may_go_with_a_note(ws: Workspace) -> None:
    _, total = forecast(ws, [prompt(SHARED, "note")], runner(ws, "stand-in", "demo"))
    assert total.costs is None and total.calibration.source == "default for an unknown provider"
    note = check_budget(total, 1.0)
    assert note is not None and "counts only the cost stand-in reports" in note


def test_the_budget_refuses_a_forecast_above_it_and_says_what_fits(ws: Workspace) -> None:
    prompts = [prompt(SHARED, f"note {i} " * 500) for i in range(5)]
    _, free = forecast(ws, prompts)
    payable = free.payable()
    assert payable is not None
    assert check_budget(free, payable * 1.01) is None
    budget = payable * 0.5
    _, total = forecast(ws, prompts, budget=budget)
    assert total.fits is not None and 1 <= total.fits < 5
    with pytest.raises(UserError) as refused:
        check_budget(total, budget)
    message = refused.value.message
    assert message.startswith(f"the forecast cost ${payable:.4f} exceeds --max-cost-usd {budget:g}")
    assert f"the first {total.fits} fit within it" in message and "nothing was started" in message
    # at batch prices the same budget goes further
    _, batched = forecast(ws, prompts, budget=budget, batch_jobs=True)
    assert batched.fits is not None and batched.fits > total.fits


def test_a_budget_below_the_first_batch_says_so(ws: Workspace) -> None:
    _, total = forecast(ws, [prompt(SHARED, "note")], budget=0.000001)
    with pytest.raises(UserError, match="not even the first fits"):
        check_budget(total, 0.000001)


def test_nothing_to_forecast(ws: Workspace) -> None:
    estimates, total = forecast(ws, [])
    assert estimates == [] and total.batches == total.input_tokens == 0
    assert total.costs is not None and total.costs.list == 0.0 and total.cache_share == 0.0
