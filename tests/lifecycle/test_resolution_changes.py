"""When the flags of a sweep (`--model sonnet --effort low`) last resolved to
one partition and the runner now serves another model, the sweep says so once,
with how many accepted pairs the old partition holds (issue item 7), instead
of silently starting a new partition."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers.db import store_of
from helpers.fake_runners import add_reviewer
from helpers.store import FROST, SEEDS, observe

from commonplace.lifecycle.partitions import (
    ResolutionChange,
    accepted_pair_count,
    resolution_changes,
    resolve_partition,
)
from commonplace.store.connection import Store


def accept(store: Store, model_id: str, *pairs: tuple[str, str]) -> None:
    with store.write() as conn:
        conn.executemany(
            "INSERT INTO acceptance_events (note_path, gate_id, model_id, accepted_note_sha,"
            " accepted_gate_sha, accepted_at, acceptance_kind)"
            " VALUES (?, ?, ?, 'n', 'g', '2024-01-01T00:00:00.000Z', 'manual-override')",
            [(note, gate, model_id) for note, gate in pairs],
        )


PAIRS = [(f"kb/notes/n{i}.md", gate) for i in range(3) for gate in ("prose/a", "prose/b")]


def test_an_alias_that_now_resolves_elsewhere_is_one_change(store: Store) -> None:
    observe(store, "sonnet", "claude-sonnet-5", "low")
    accept(store, "claude-sonnet-5-low", *PAIRS, PAIRS[0])  # a pair accepted twice counts once
    accept(store, "claude-sonnet-5-high", PAIRS[1])  # another effort: another partition
    partition = resolve_partition("sonnet", "low", aliases={}, store=store)
    assert partition.model_id == "claude-sonnet-5-low"

    changes = resolution_changes(
        store, partition, ["claude-sonnet-5-5-low", None, "claude-sonnet-5-5-low"]
    )

    assert changes == (
        ResolutionChange("--model sonnet --effort low", "claude-sonnet-5-low",
                         "claude-sonnet-5-5-low", 6),
    )  # fmt: skip
    assert changes[0].message == (
        "--model sonnet --effort low now resolves to claude-sonnet-5-5-low"
        " (was claude-sonnet-5-low, which holds 6 accepted pairs); reviews go to the new partition"
    )


def test_an_observed_resolution_is_a_change_even_when_its_partition_holds_nothing(
    store: Store,
) -> None:
    observe(store, "sonnet", "claude-sonnet-5")
    partition = resolve_partition("sonnet", None, aliases={}, store=store)

    (change,) = resolution_changes(store, partition, ["claude-sonnet-5-5"])

    assert change.accepted_pairs == 0
    assert "which holds 0 accepted pairs" in change.message


def test_a_literal_partition_holding_pairs_served_by_another_model_is_a_change(
    store: Store,
) -> None:
    accept(store, "claude-sonnet-5", PAIRS[0])
    partition = resolve_partition("claude-sonnet-5", None, aliases={}, store=store)

    (change,) = resolution_changes(store, partition, ["claude-opus-4-6"])

    assert change.message.startswith("--model claude-sonnet-5 now resolves to claude-opus-4-6")
    assert "holds 1 accepted pair)" in change.message


@pytest.mark.parametrize(
    "served",
    [
        [],  # nothing ran
        [None],  # the batch failed before a model was known
        ["claude-sonnet-5-low"],  # served where the flags pointed
    ],
)
def test_no_change_when_reviews_went_where_the_flags_pointed(
    store: Store, served: list[str | None]
) -> None:
    observe(store, "sonnet", "claude-sonnet-5", "low")
    accept(store, "claude-sonnet-5-low", PAIRS[0])
    partition = resolve_partition("sonnet", "low", aliases={}, store=store)
    assert resolution_changes(store, partition, served) == ()


def test_a_first_resolution_of_a_name_that_holds_nothing_is_no_change(store: Store) -> None:
    partition = resolve_partition("sonnet", "low", aliases={}, store=store)
    assert resolution_changes(store, partition, ["claude-sonnet-5-low"]) == ()


def test_accepted_pairs_are_counted_per_partition(store: Store) -> None:
    accept(store, "m-low", *PAIRS[:4])
    accept(store, "m-high", *PAIRS)
    assert accepted_pair_count(store, "m-low") == 4
    assert accepted_pair_count(store, "m-high") == 6
    assert accepted_pair_count(store, "m") == 0


# --- through the command, with a reviewer whose telemetry names a model per call -----


def test_a_sweep_says_once_when_its_flags_resolve_to_another_model(
    cli: Any, example_kb: Path, tmp_path: Path
) -> None:
    state = tmp_path / "fake-state"
    # the first call is served by model-a, every later one by model-b
    add_reviewer(example_kb, "fake", state, "--model", "model-a", "--model", "model-b")
    run = ("--runner", "fake", "--model", "alias", "--jobs", "2", "--json")

    first = cli("review-sweep", "clarity", "--note", FROST, *run, cwd=example_kb)
    assert first.code == 0, first.err
    assert json.loads(first.out)["notices"] == [] and "notice:" not in first.err
    with Store(store_of(example_kb)) as store:
        held = accepted_pair_count(store, "model-a")
    assert held == 2

    second = cli("review-sweep", "--note", FROST, *run, cwd=example_kb)
    assert second.code == 0, second.err
    payload = json.loads(second.out)
    assert len(payload["batches"]) > 1
    assert {b["model_id"] for b in payload["batches"]} == {"model-b"}
    notice = (
        "--model alias now resolves to model-b (was model-a, which holds 2 accepted pairs);"
        " reviews go to the new partition"
    )
    assert payload["notices"] == [notice]
    assert [line for line in second.err.splitlines() if "notice:" in line] == [f"notice: {notice}"]

    text = cli("review-sweep", "--note", SEEDS, *run[:-1], cwd=example_kb)  # not --json
    assert text.code == 0, text.err
    assert "notice:" not in text.err  # model-b is now what the flags resolve to
