"""The forecast before any spend (issue 15): what a sweep's batches will take
in tokens and money, from their rendered prompts, before any run exists.

- Input tokens: prompt characters over a characters-per-token ratio, measured
  on the store's own history (past batches of the same runner and model: the
  input tokens their providers counted over their prompt sizes) when there is
  some, else a default per provider.
- The cache: each distinct prefix up to one of a prompt's cache points (what
  `anthropic-api` marks with breakpoints) is written once, then read by the
  later batches that share it, as a provider does. A prefix below the
  providers' minimum cacheable length is not cached; a batch launched while
  the one that writes its prefix may still be running (`jobs` at a time)
  writes it again.
- Output tokens: tokens per pair from the same history, else a default.
- Cost: the price table (`runners.pricing`); a model it lacks gets tokens and
  no cost, never a guessed one.

`Forecaster` renders nothing itself: it tallies the prompts it is given one
at a time, so a sweep of thousands of notes never holds them all.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass
from operator import attrgetter
from typing import Protocol

from commonplace.errors import UserError
from commonplace.protocol.grammar import Pair
from commonplace.runners import API_RUNNERS, RUNNERS
from commonplace.runners.pricing import PriceTable, Usage, cost_of, list_cost
from commonplace.runners.telemetry import Tokens
from commonplace.services.execution import RunnerCall
from commonplace.settings import ModelPrice
from commonplace.store import telemetry as queries
from commonplace.store.connection import Store

_note_path = attrgetter("note_path")

# Characters per token of Markdown prose with each provider's tokenizer, for a
# store that has no history yet (measured on the corpus; see docs/runners.md).
DEFAULT_CHARS_PER_TOKEN = {"anthropic": 3.5, "openai": 4.0}
OTHER_CHARS_PER_TOKEN = 3.8
# A review block (summary, findings, a suggested revision) without thinking.
DEFAULT_OUTPUT_PER_PAIR = 400
MIN_CACHEABLE_TOKENS = 1024  # the smallest prefix either provider caches
HISTORY_BATCHES = 200  # the latest batches a calibration reads
# A past batch outside these is left out of a calibration: characters per
# token (a CLI's own system prompt and tool turns push it below 1), and
# output tokens per pair (thinking included).
PLAUSIBLE_RATIO = (0.2, 20.0)
PLAUSIBLE_OUTPUT_PER_PAIR = 100_000
PROVIDERS = {
    "anthropic-api": "anthropic",
    "claude-code": "anthropic",
    "openai-api": "openai",
    "codex": "openai",
}


class SizedPrompt(Protocol):
    """What a forecast reads of a prompt: a `RenderedPrompt`, or only its
    measure (`protocol.prompt_size.PromptSize`)."""

    @property
    def chars(self) -> int: ...
    @property
    def pairs(self) -> tuple[Pair, ...]: ...
    @property
    def cache_points(self) -> tuple[int, ...]: ...
    def prefix_key(self, point: int) -> Hashable: ...


@dataclass(frozen=True)
class Calibration:
    chars_per_token: float
    output_per_pair: float
    batches: int = 0  # past batches measured (0: the defaults)
    source: str = ""  # how the ratio was found, as the summary says it


@dataclass(frozen=True)
class BatchEstimate:
    notes: tuple[str, ...]
    pairs: int
    prompt_chars: int
    input_tokens: int  # all of it, cached or not
    cache_read_tokens: int
    cache_write_tokens: int
    output_tokens: int

    @property
    def usage(self) -> Usage:
        read, write = self.cache_read_tokens, self.cache_write_tokens
        return Usage(self.input_tokens - read - write, write, read, self.output_tokens)


@dataclass(frozen=True)
class Costs:
    """USD for the forecast tokens: at list price (no cache, no batch job),
    with caching, with provider batch jobs, and with both."""

    list: float
    cached: float
    batch: float
    batch_cached: float


@dataclass(frozen=True)
class Forecast:
    runner: str
    model: str  # the model priced (or looked up in vain)
    batches: int
    pairs: int
    notes: int
    prompt_chars: int
    input_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    output_tokens: int
    calibration: Calibration
    costs: Costs | None  # None: no price for the model
    price_source: str | None
    remarks: tuple[str, ...]  # what the reader should know about these figures
    fits: int | None = None  # leading batches whose payable cost is within the budget

    @property
    def uncached_tokens(self) -> int:
        return self.input_tokens - self.cache_read_tokens - self.cache_write_tokens

    @property
    def cache_share(self) -> float:
        return self.cache_read_tokens / self.input_tokens if self.input_tokens else 0.0

    def payable(self, batch_jobs: bool = False) -> float | None:
        """What the sweep will be billed: with caching (API runners and the
        CLIs cache), at batch prices when it goes as provider batch jobs."""
        if self.costs is None:
            return None
        return self.costs.batch_cached if batch_jobs else self.costs.cached


class Forecaster:
    """Tallies prompts into a `Forecast`. `estimates()` yields one estimate
    per prompt as it goes (for a streamed listing); `total()` runs through
    whatever is left and returns the whole."""

    def __init__(
        self,
        store: Store,
        runner: RunnerCall,
        prices: PriceTable,
        prompts: Iterable[SizedPrompt],
        *,
        jobs: int = 1,
        budget: float | None = None,
        batch_jobs: bool = False,
    ) -> None:
        self.store, self.runner, self.prices = store, runner, prices
        self._prompts = iter(prompts)
        self.jobs, self.budget, self.batch_jobs = max(1, jobs), budget, batch_jobs
        self.model, self.price = _price_of(prices, runner)
        self._calibration: Calibration | None = None
        self._written: dict[Hashable, int] = {}  # prefix key -> the batch that wrote it first
        self._cacheable: dict[tuple[int, ...], list[int]] = {}  # cache points -> those cached
        self._notes: set[str] = set()
        self._sums = [0] * 7  # batches, pairs, chars, input, read, write, output
        self._spent = 0.0
        self._fits: int | None = None if budget is None or self.price is None else 0

    @property
    def calibration(self) -> Calibration:
        if self._calibration is None:  # read on first use: a dry run may never need it
            self._calibration = calibrate(self.store, self.runner)
        return self._calibration

    def estimates(self) -> Iterator[BatchEstimate]:
        for prompt in self._prompts:
            yield self._add(prompt)

    def total(self) -> Forecast:
        for _ in self.estimates():
            pass
        batches, pairs, chars, inputs, read, write, output = self._sums
        costs = None
        if self.price is not None:
            usage = Usage(inputs - read - write, write, read, output)
            costs = Costs(
                list=list_cost(self.price, usage),
                cached=cost_of(self.price, usage),
                batch=cost_of(self.price, Usage(inputs, 0, 0, output), batch=True),
                batch_cached=cost_of(self.price, usage, batch=True),
            )
        return Forecast(
            runner=self.runner.adapter.name,
            model=self.model,
            batches=batches,
            pairs=pairs,
            notes=len(self._notes),
            prompt_chars=chars,
            input_tokens=inputs,
            cache_read_tokens=read,
            cache_write_tokens=write,
            output_tokens=output,
            calibration=self.calibration,
            costs=costs,
            price_source=self.price.source if self.price else None,
            remarks=self._remarks(),
            fits=self._fits,
        )

    def _add(self, prompt: SizedPrompt) -> BatchEstimate:
        calibration = self.calibration
        ratio = calibration.chars_per_token
        sums = self._sums
        index = sums[0]
        read_chars, write_chars = self._cache(prompt, index, ratio)
        chars, pairs = prompt.chars, len(prompt.pairs)
        notes = tuple(dict.fromkeys(map(_note_path, prompt.pairs)))
        inputs = round(chars / ratio)
        read = min(inputs, round(read_chars / ratio))
        write = min(inputs - read, round(write_chars / ratio))
        output = round(pairs * calibration.output_per_pair)
        estimate = BatchEstimate(notes, pairs, chars, inputs, read, write, output)
        # batches, pairs, chars, input, read, write, output
        sums[0] += 1
        sums[1] += pairs
        sums[2] += chars
        sums[3] += inputs
        sums[4] += read
        sums[5] += write
        sums[6] += output
        self._notes.update(notes)
        if self._fits is not None and self.price is not None and self.budget is not None:
            self._spent += cost_of(self.price, estimate.usage, batch=self.batch_jobs)
            if self._fits == index and self._spent <= self.budget:
                self._fits += 1
        return estimate

    def _cache(self, prompt: SizedPrompt, index: int, ratio: float) -> tuple[int, int]:
        """Characters read from the cache and written to it by this batch."""
        cacheable = self._cacheable.get(prompt.cache_points)
        if cacheable is None:  # a handful of distinct point sets in a sweep
            cacheable = self._cacheable[prompt.cache_points] = sorted(
                p for p in set(prompt.cache_points) if p > 0 and p / ratio >= MIN_CACHEABLE_TOKENS
            )
        read = last = 0
        for point in cacheable:
            if point >= prompt.chars:
                break
            first = self._written.setdefault(prompt.prefix_key(point), index)
            # written by a batch that has surely finished before this one starts
            if index - first >= self.jobs:
                read = point
            last = point
        return read, max(0, last - read)

    def _remarks(self) -> tuple[str, ...]:
        name = self.runner.adapter.name
        if self.price is None:
            return (
                f"no price for model {self.model} in the pricing table: tokens estimated,"
                f" no cost (add [pricing.{self.model}] to commonplace.toml)",
            )
        if name in API_RUNNERS:
            return ()
        if name in RUNNERS:
            return (
                f"costs are {self.model}'s API list prices: on a subscription, {name} is"
                " billed differently",
            )
        return (f"costs are {self.model}'s API list prices: what {name} costs is up to it",)


def runner_kind(name: str) -> str:
    """`api`, `cli` (claude-code, codex) or `command`."""
    return "api" if name in API_RUNNERS else "cli" if name in RUNNERS else "command"


def check_budget(forecast: Forecast, budget: float, *, batch_jobs: bool = False) -> str | None:
    """Refuse (UserError) a sweep whose payable forecast exceeds `budget`, or
    whose cost cannot be forecast while its runner is billed per token. A
    command runner without a price goes ahead: the note returned says that
    only the cost it reports counts."""
    payable = forecast.payable(batch_jobs)
    if payable is None:
        if runner_kind(forecast.runner) == "command":
            return (
                f"no price for model {forecast.model}: --max-cost-usd {budget:g} counts only"
                f" the cost {forecast.runner} reports"
            )
        raise UserError(
            f"cannot check --max-cost-usd {budget:g}: no price for model {forecast.model} in"
            f" the pricing table (add [pricing.{forecast.model}] to commonplace.toml,"
            " or leave out --max-cost-usd)"
        )
    if payable > budget:
        how = "with caching" + (" at batch prices" if batch_jobs else "")
        fits = forecast.fits or 0
        within = f"the first {fits} fit within it" if fits else "not even the first fits"
        raise UserError(
            f"the forecast cost ${payable:.4f} exceeds --max-cost-usd {budget:g};"
            f" nothing was started ({forecast.batches} batches, {forecast.pairs} pairs,"
            f" {forecast.model} {how}; {within}): raise it, review fewer notes, or see"
            " the forecast with --dry-run"
        )
    return None


def calibrate(store: Store, runner: RunnerCall) -> Calibration:
    """The ratios measured on past batches of this runner and model, else the defaults."""
    name, partition = runner.adapter.name, runner.partition
    with store.read() as conn:
        rows = queries.measured_batches(
            conn,
            runner=name,
            model=partition.requested_model,
            model_id=partition.model_id,
            limit=HISTORY_BATCHES,
        )
    chars = inputs = pairs = output = batches = 0
    for row in rows:
        size, count = row["prompt_chars"], row["pairs"]
        measured = _measured(row["telemetry_json"])
        if measured is None or not isinstance(size, int) or not isinstance(count, int):
            continue
        if not PLAUSIBLE_RATIO[0] <= size / measured[0] <= PLAUSIBLE_RATIO[1]:
            continue  # another prompt's tokens, or a damaged row: it would skew the rest
        batches += 1
        chars += size
        inputs += measured[0]
        if count > 0 and measured[1] <= count * PLAUSIBLE_OUTPUT_PER_PAIR:
            pairs += count
            output += measured[1]
    provider = PROVIDERS.get(name) or _provider_of(runner.model)
    ratio = DEFAULT_CHARS_PER_TOKEN.get(provider or "", OTHER_CHARS_PER_TOKEN)
    per_pair = float(DEFAULT_OUTPUT_PER_PAIR)
    if not batches or not inputs:
        return Calibration(ratio, per_pair, 0, f"default for {provider or 'an unknown provider'}")
    return Calibration(
        chars / inputs,
        output / pairs if pairs else per_pair,
        batches,
        f"measured on {batches} past batch(es) of {name} with {partition.model_id}",
    )


def _measured(document: str) -> tuple[int, int] | None:
    """(input tokens, output tokens) one call of a batch was billed, or None
    when its telemetry says no such thing (a CLI that reported no usage) or
    covers more calls than the one prompt stored (a re-ask for missing pairs)."""
    try:
        data = json.loads(document)
    except ValueError:
        return None
    if not isinstance(data, dict) or "calls" in data or not isinstance(data.get("tokens"), dict):
        return None
    counts = data["tokens"]
    tokens = Tokens(**{k: counts.get(k) for k in ("input", "output", "cache_read", "cache_write")})
    if tokens.input is None or tokens.output is None:
        return None
    usage = Usage.of(tokens, bool(data.get("input_includes_cache_read")))
    return (usage.input_total, usage.output) if usage.input_total else None


def _price_of(prices: PriceTable, runner: RunnerCall) -> tuple[str, ModelPrice | None]:
    """The model priced and its price: as the runner asks for it, else as resolved."""
    for name in (runner.model, runner.partition.model):
        price = prices.find(name)
        if price is not None:
            return name, price
    return runner.model, None


def _provider_of(model: str) -> str | None:
    if model.startswith("claude"):
        return "anthropic"
    if model.startswith(("gpt", "o1", "o3", "o4")):
        return "openai"
    return None
