"""The price table (runners/prices.toml and `[pricing.<model>]`): costs from
token counts at list, cache and batch prices; a model the table lacks gets
no cost, never a guess."""

from __future__ import annotations

from pathlib import Path

import pytest

from commonplace.config import load_config
from commonplace.errors import UserError
from commonplace.runners.pricing import PriceTable, Usage, cost_of, list_cost, shipped_prices
from commonplace.runners.telemetry import Tokens


def test_the_shipped_table_prices_current_claude_and_openai_models() -> None:
    prices = shipped_prices()
    sonnet = prices["claude-sonnet-4-5"]
    assert (sonnet.input, sonnet.output, sonnet.cache_write, sonnet.cache_read) == (
        3.0, 15.0, 3.75, 0.3,
    )  # fmt: skip
    assert (sonnet.batch_input, sonnet.batch_output) == (1.5, 7.5)
    assert "2026-12-07" in sonnet.source
    assert prices["gpt-5"].cache_read == 0.125
    for price in prices.values():  # every entry whole and consistent
        assert price.cache_read <= price.input <= price.cache_write
        assert price.batch_input <= price.input and price.batch_output <= price.output


@pytest.mark.parametrize(
    ("model", "found"),
    [
        ("claude-sonnet-4-5", "claude-sonnet-4-5"),
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("gpt-5-2025-08-07", "gpt-5"),
        ("gpt-4.1", "gpt-4-1"),
        ("llama3.1:8b", None),
        ("", None),
        (None, None),
    ],
)
def test_a_dated_snapshot_prices_as_its_model(model: str | None, found: str | None) -> None:
    table = PriceTable()
    assert table.find(model) == (table.prices[found] if found else None)


def test_usage_counts_every_input_token_once_whichever_provider_counted_it() -> None:
    anthropic = Usage.of(Tokens(input=100, cache_read=800, cache_write=50, output=40), False)
    assert (anthropic.input, anthropic.cache_read, anthropic.cache_write) == (100, 800, 50)
    openai = Usage.of(Tokens(input=1000, cache_read=800, output=40), True)
    assert (openai.input, openai.cache_read, openai.input_total) == (200, 800, 1000)


def test_costs_at_list_cache_and_batch_prices() -> None:
    price = shipped_prices()["claude-sonnet-4-5"]
    usage = Usage(input=1_000_000, cache_write=1_000_000, cache_read=1_000_000, output=1_000_000)
    assert cost_of(price, usage) == pytest.approx(3.0 + 3.75 + 0.3 + 15.0)
    assert cost_of(price, usage, batch=True) == pytest.approx((3.0 + 3.75 + 0.3 + 15.0) / 2)
    assert list_cost(price, usage) == pytest.approx(3 * 3.0 + 15.0)


def _config(tmp_path: Path, text: str) -> PriceTable:
    (tmp_path / "commonplace.toml").write_text(text)
    return PriceTable(load_config(tmp_path).pricing)


def test_configured_prices_replace_or_add_entries(tmp_path: Path) -> None:
    table = _config(
        tmp_path,
        "[pricing.claude-sonnet-4-5]\ninput = 2.0\n"
        '[pricing."llama3.1:8b"]\ninput = 0.1\noutput = 0.2\ncache_read = 0.01\n',
    )
    sonnet = table.prices["claude-sonnet-4-5"]
    assert (sonnet.input, sonnet.output, sonnet.cache_read) == (2.0, 15.0, 0.3)
    llama = table.prices["llama3.1:8b"]
    # no cache write or batch price given: the list price, not an invented discount
    assert (llama.cache_read, llama.cache_write, llama.batch_input, llama.batch_output) == (
        0.01, 0.1, 0.1, 0.2,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[pricing.x]\ninput = 1\n", "[pricing.x] needs input and output"),
        ("[pricing.gpt-5]\ninput = -1\n", "input must be a price in USD per million tokens"),
        ('[pricing.gpt-5]\ninput = "cheap"\n', "input must be a price"),
        ("[pricing.gpt-5]\ninput = inf\n", "input must be a price"),
        ("[pricing.gpt-5]\ncached = 1\n", "unknown key(s): cached"),
        ("pricing = 3\n", "[pricing] must be a table"),
        ("[pricing]\ngpt-5 = 3\n", "[pricing.gpt-5] must be a table"),
    ],
)
def test_bad_price_tables_are_refused_with_the_key_named(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(UserError) as caught:
        _config(tmp_path, text)
    assert message in caught.value.message
