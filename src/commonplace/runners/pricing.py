"""What a call cost, from its token counts and a price table (SPEC 8).

The table ships with the package (`prices.toml`, list prices with where and
when they were taken); `[pricing.<model>]` in commonplace.toml replaces or
adds entries (`settings.parse_prices`). A model the table does not have gets
no cost at all, never a guess: `cost_of` returns None and `missing_note`
says why. Batch prices are there for the provider batch jobs and forecasts.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType

from commonplace.errors import UserError
from commonplace.runners.telemetry import Tokens
from commonplace.settings import ModelPrice, PriceOverride

PER = 1_000_000  # prices are per million tokens
# Dated snapshots price as their model: claude-sonnet-4-5-20250929, gpt-5-2025-08-07
_DATED = re.compile(r"-(?:\d{8}|\d{4}-\d{2}-\d{2})$")


@dataclass(frozen=True)
class Usage:
    """Token counts as billed: every input token in exactly one class."""

    input: int = 0  # uncached input
    cache_write: int = 0
    cache_read: int = 0
    output: int = 0  # reasoning included

    @classmethod
    def of(cls, tokens: Tokens, input_includes_cache: bool) -> Usage:
        """From telemetry's counts. OpenAI counts cached (and cache-written)
        input inside `input`; Anthropic reports the three apart."""
        read, write = tokens.cache_read or 0, tokens.cache_write or 0
        total = tokens.input or 0
        uncached = max(0, total - read - write) if input_includes_cache else total
        return cls(uncached, write, read, tokens.output or 0)

    @property
    def input_total(self) -> int:
        return self.input + self.cache_write + self.cache_read


@cache
def shipped_prices() -> Mapping[str, ModelPrice]:
    """The table in the package, read once."""
    data = tomllib.loads(
        resources.files("commonplace.runners").joinpath("prices.toml").read_text("utf-8")
    )
    meta = data.get("meta", {})
    table = {}
    for model, entry in data["models"].items():
        table[model] = ModelPrice(
            input=float(entry["input"]),
            output=float(entry["output"]),
            cache_write=float(entry["cache_write"]),
            cache_read=float(entry["cache_read"]),
            batch_input=float(entry["batch_input"]),
            batch_output=float(entry["batch_output"]),
            source=str(meta.get(entry.get("provider"), "prices.toml")),
        )
    return MappingProxyType(table)


class PriceTable:
    """The shipped prices with the configured ones over them."""

    def __init__(self, overrides: Mapping[str, PriceOverride] | None = None) -> None:
        self.prices = dict(shipped_prices())
        for model, given in (overrides or {}).items():
            self.prices[model] = _laid_over(self.prices.get(model), given)

    def find(self, model: str | None) -> ModelPrice | None:
        """The price of `model`, of its undated name, or None. Dots and
        dashes are one (gpt-4.1 is gpt-4-1)."""
        if not model:
            return None
        for name in (model, _DATED.sub("", model)):
            for spelling in (name, name.replace(".", "-")):
                if spelling in self.prices:
                    return self.prices[spelling]
        return None


def _laid_over(base: ModelPrice | None, given: PriceOverride) -> ModelPrice:
    """A configured price over the shipped one. A model the table lacks needs
    input and output, and pays them where no cache or batch price is given:
    no discount is assumed that nobody stated."""
    inp = given.input if given.input is not None else base.input if base else None
    out = given.output if given.output is not None else base.output if base else None
    if inp is None or out is None:
        raise UserError(f"{given.source} needs input and output (USD per million tokens)")

    def pick(value: float | None, shipped: float | None, fallback: float) -> float:
        return value if value is not None else shipped if shipped is not None else fallback

    return ModelPrice(
        input=inp,
        output=out,
        cache_write=pick(given.cache_write, base.cache_write if base else None, inp),
        cache_read=pick(given.cache_read, base.cache_read if base else None, inp),
        batch_input=pick(given.batch_input, base.batch_input if base else None, inp),
        batch_output=pick(given.batch_output, base.batch_output if base else None, out),
        source=given.source,
    )


def cost_of(price: ModelPrice, usage: Usage, *, batch: bool = False) -> float:
    """USD for `usage` at `price`. In a batch job the cache classes get the
    batch discount too (the ratio of batch to list input price)."""
    if batch:
        ratio = price.batch_input / price.input if price.input else 1.0
        return (
            usage.input * price.batch_input
            + usage.cache_write * price.cache_write * ratio
            + usage.cache_read * price.cache_read * ratio
            + usage.output * price.batch_output
        ) / PER
    return (
        usage.input * price.input
        + usage.cache_write * price.cache_write
        + usage.cache_read * price.cache_read
        + usage.output * price.output
    ) / PER


def list_cost(price: ModelPrice, usage: Usage) -> float:
    """What the same tokens cost with no cache and no batch job: every input
    token at the input price."""
    return (usage.input_total * price.input + usage.output * price.output) / PER


def missing_note(model: str | None) -> str:
    return (
        f"no price for model {model or '(unknown)'} in the pricing table: tokens reported,"
        " cost not (add [pricing.<model>] to commonplace.toml)"
    )
