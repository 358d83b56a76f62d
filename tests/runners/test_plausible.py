"""Telemetry is validated (issue item 5): a model name that is not a plausible
model id is dropped, and so are negative or non-numeric counts and costs,
whichever adapter built the record. The end-to-end case runs a real command
runner whose telemetry file carries every kind of bad value."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

from commonplace.runners import launch, plausible
from commonplace.runners.base import Call
from commonplace.runners.command import CommandAdapter
from commonplace.runners.telemetry import Telemetry, Tokens, usable_model
from commonplace.settings import RunnerSettings


@pytest.mark.parametrize(
    "name",
    [
        "claude-sonnet-4-5-20250929",
        "gpt-5.5",
        "claude-sonnet-5-5",
        "openrouter/anthropic/claude-3.5-sonnet",
        "claude-3-5-sonnet@20240620",
        "us.anthropic.claude-3-5-sonnet-20241022-v2:0",
        "llama3:8b",
        "Qwen2.5-Coder-32B-Instruct",
        "o3",
        "Other Model 9",
        "m" * plausible.MODEL_ID_MAX,
    ],
)
def test_real_model_ids_are_plausible(name: str) -> None:
    assert plausible.model_id(name) == name
    assert plausible.model_id(f"  {name}\n") == name


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "   ",
        42,
        ["gpt-5"],
        "<synthetic>",
        "m" * (plausible.MODEL_ID_MAX + 1),
        "gpt\t5",
        "gpt  5",
        "gpt-5\nINSERT",
        "gpt-5\x00",
        "claude'; DROP TABLE review_runs; --",
        "<script>alert(1)</script>",
        "../../etc/passwd",
        "/etc/passwd",
        "https://evil.example/model",
        "12345",
        "-rf",
        "model\u202egnp",  # a right-to-left override
        "mödel",
    ],
)
def test_implausible_model_names_are_dropped(value: object) -> None:
    assert plausible.model_id(value) is None
    assert usable_model(value) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, 0),
        (1200, 1200),
        (1200.0, 1200),
        (-1, None),
        (-0.5, None),
        (1.5, None),
        ("1200", None),
        (True, None),
        (None, None),
        (math.nan, None),
        (math.inf, None),
        ([1], None),
    ],
)
def test_counts_are_non_negative_whole_numbers(value: object, expected: int | None) -> None:
    assert plausible.count(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, 0.0), (0.25, 0.25), (3, 3.0), (-0.01, None), ("0.1", None), (True, None),
     (math.nan, None), (math.inf, None), (None, None)],
)  # fmt: skip
def test_costs_are_non_negative_finite_amounts(value: object, expected: float | None) -> None:
    assert plausible.amount(value) == expected


def test_tokens_drop_negative_and_non_numeric_counts() -> None:
    tokens = Tokens(input=-5, output="80", cache_read=3.0, cache_write=True, reasoning=7)  # type: ignore[arg-type]
    assert tokens.as_dict() == {
        "input": None,
        "output": None,
        "cache_read": 3,
        "cache_write": None,
        "reasoning": 7,
    }


def test_telemetry_keeps_only_plausible_models_and_values() -> None:
    telemetry = Telemetry(
        runner="x",
        model="bad\tmodel",
        models=("bad\tmodel", "gpt-5.5", "gpt-5.5", "../x"),
        cost_usd=-1.0,
        duration_ms=-3,
        turns=2,
    )
    assert telemetry.models == ("gpt-5.5",)
    assert telemetry.model is None  # the named one was dropped: nothing to rekey to
    assert (telemetry.cost_usd, telemetry.duration_ms, telemetry.turns) == (None, None, 2)
    assert Telemetry(runner="x", model="gpt-5.5", models=("gpt-5.5",)).model == "gpt-5.5"
    assert Telemetry(runner="x", model="gpt-5.5").model == "gpt-5.5"
    assert Telemetry(runner="x", model="o3", models=("gpt-5.5",)).model is None


BAD_TELEMETRY = {
    "model": "claude-sonnet-4-5'; rm -rf /",
    "models": ["claude-sonnet-4-5'; rm -rf /", "gpt\n5", 7, "x" * 500],
    "tokens": {"input": -1200, "output": "eighty", "cache_read": 12, "reasoning": 1e400},
    "cost_usd": -4.5,
    "duration_ms": -10,
    "turns": "many",
}


def test_a_command_runners_bad_telemetry_is_dropped_field_by_field(tmp_path: Path) -> None:
    script = tmp_path / "kb" / "tools" / "review.py"
    script.parent.mkdir(parents=True)
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        "sys.stdin.read()\n"
        "print('review text')\n"
        "with open(os.environ['COMMONPLACE_TELEMETRY_FILE'], 'w') as f:\n"
        f"    f.write({json.dumps(BAD_TELEMETRY).replace('1e+400', '1e400')!r})\n",
        encoding="utf-8",
    )
    script.chmod(0o755)
    adapter = CommandAdapter(
        "my-llm", RunnerSettings(command=("tools/review.py",)), tmp_path / "kb"
    )
    call = Call(prompt="p", model="local-7b", effort=None, cwd=tmp_path)

    result = launch.run_adapter(adapter, call, timeout=20, parent_env={"PATH": "/usr/bin:/bin"})

    assert result.failure is None, result.debug_log()
    telemetry = result.telemetry
    assert telemetry is not None
    assert telemetry.model is None and telemetry.models == ()
    assert telemetry.tokens.as_dict() == {
        "input": None,
        "output": None,
        "cache_read": 12,
        "cache_write": None,
        "reasoning": None,
    }
    assert telemetry.cost_usd is None
    assert telemetry.duration_ms is not None and telemetry.duration_ms >= 0  # the wall clock
    assert telemetry.turns is None
    json.dumps(telemetry.as_dict(), allow_nan=False)  # storable as strict JSON
