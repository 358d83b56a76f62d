"""Model partitions (SPEC 4): normalize, effort, config alias, observed alias."""

from __future__ import annotations

import pytest
from helpers.store import observe

from commonplace.errors import UsageError
from commonplace.lifecycle.partitions import (
    EFFORTS,
    Partition,
    normalize,
    resolve_partition,
    with_effort,
)
from commonplace.store.connection import Store


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("claude-opus-4-6", "claude-opus-4-6"),
        ("gpt-5.5", "gpt-5-5"),
        ("GPT-5.5", "gpt-5-5"),
        ("Claude Opus 4.6", "claude-opus-4-6"),
        ("a..b__c  d", "a-b-c-d"),
        ("models/gemini-2.5-pro", "models-gemini-2-5-pro"),
        ("claude-sonnet-4-5@20250929", "claude-sonnet-4-5-20250929"),
    ],
)
def test_normalize(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


def test_with_effort() -> None:
    assert with_effort("gpt-5-5", "xhigh") == "gpt-5-5-xhigh"
    assert with_effort("claude-opus-4-6", None) == "claude-opus-4-6"


def test_literal_model_with_effort() -> None:
    partition = resolve_partition("gpt-5.5", "xhigh", aliases={}, store=None)
    assert partition == Partition(
        requested_model="gpt-5-5", effort="xhigh", model="gpt-5-5", named_model="gpt-5-5"
    )
    assert partition.model_id == "gpt-5-5-xhigh"


def test_literal_model_without_effort() -> None:
    partition = resolve_partition("claude-opus-4-6", None, aliases={}, store=None)
    assert partition.model_id == "claude-opus-4-6"
    assert partition.effort is None


@pytest.mark.parametrize("effort", EFFORTS)
def test_every_effort_is_a_suffix(effort: str) -> None:
    partition = resolve_partition("gpt-5.5", effort, aliases={}, store=None)
    assert partition.model_id == f"gpt-5-5-{effort}"


def test_config_alias_resolves_first(store: Store) -> None:
    observe(store, "opus", "claude-opus-9")
    partition = resolve_partition("opus", "high", aliases={"opus": "Claude-Opus-4.6"}, store=store)
    assert partition.requested_model == "opus"
    assert partition.model == "claude-opus-4-6"
    assert partition.model_id == "claude-opus-4-6-high"


def test_config_alias_keys_are_normalized() -> None:
    partition = resolve_partition("OPUS", None, aliases={"Opus": "claude-opus-4-6"}, store=None)
    assert partition.model_id == "claude-opus-4-6"


def test_observed_resolution_follows_the_configured_name(store: Store) -> None:
    """A runner that serves something else than the config names is followed:
    the resolution is keyed by the configured name, so asking again with the
    same flags looks at the partition that was written (no endless re-review)."""
    observe(store, "claude-opus-4-6", "claude-opus-4-7")
    partition = resolve_partition("opus", None, aliases={"opus": "claude-opus-4-6"}, store=store)
    assert partition.named_model == "claude-opus-4-6"
    assert partition.model_id == "claude-opus-4-7"


def test_observed_alias_resolves_second(store: Store) -> None:
    observe(store, "sonnet", "claude-sonnet-4")
    observe(store, "sonnet", "claude-sonnet-5")
    observe(store, "haiku", "claude-haiku-3")
    partition = resolve_partition("sonnet", None, aliases={"opus": "claude-opus-4-6"}, store=store)
    assert partition.model_id == "claude-sonnet-5"
    assert partition.requested_model == "sonnet"


def test_observed_alias_is_normalized_like_every_partition(store: Store) -> None:
    """SPEC 4: the partition is normalize(alias(model)) + '-' + effort, whatever
    the alias source; an observed resolution recorded as the runner reported it
    (`gpt-5.5`) must still give `gpt-5-5-xhigh`."""
    observe(store, "codex-default", "GPT-5.5")
    partition = resolve_partition("codex-default", "xhigh", aliases={}, store=store)
    assert partition.model_id == "gpt-5-5-xhigh"


def test_literal_when_nothing_matches(store: Store) -> None:
    observe(store, "sonnet", "claude-sonnet-5")
    partition = resolve_partition("gpt-5.5", "low", aliases={"opus": "x"}, store=store)
    assert partition.model_id == "gpt-5-5-low"


def test_resolving_from_a_missing_store_creates_nothing(store: Store) -> None:
    partition = resolve_partition("sonnet", None, aliases={}, store=store)
    assert partition.model_id == "sonnet"
    assert not store.exists


def test_same_flags_give_the_same_partition(store: Store) -> None:
    first = resolve_partition("GPT 5.5", "max", aliases={}, store=store)
    second = resolve_partition("gpt-5.5", "max", aliases={}, store=store)
    assert first.model_id == second.model_id == "gpt-5-5-max"


@pytest.mark.parametrize("effort", ["", "extreme", "XHIGH", "minimal"])
def test_bad_effort_is_a_usage_error(effort: str) -> None:
    with pytest.raises(UsageError, match="--effort") as info:
        resolve_partition("gpt-5.5", effort, aliases={}, store=None)
    assert info.value.exit_code == 2


@pytest.mark.parametrize("model", ["", "   ", "..", "---"])
def test_empty_model_is_a_usage_error(model: str) -> None:
    with pytest.raises(UsageError, match="--model"):
        resolve_partition(model, None, aliases={}, store=None)
