"""The umbrella's short verbs, the examples in every `--help`, and "did you
mean" for mistyped commands, choices, options, gates, notes and runners."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.cli import assert_refused
from helpers.commands import Result, run_script

from commonplace.cli.app import build_parser
from commonplace.cli.examples import EXAMPLES, example_commands
from commonplace.cli.main import COMMANDS, UMBRELLA_ONLY, VERBS, resolve, umbrella_help, verbs

EX_NOTE = "kb/notes/frost-dates.md"
MODEL = ("--model", "demo")
EVERY_COMMAND = {**COMMANDS, **UMBRELLA_ONLY}


def test_each_verb_names_its_command() -> None:
    assert resolve("status") is COMMANDS["review-target-selector"]
    assert resolve("review") is COMMANDS["review-sweep"]
    assert resolve("fixes") is COMMANDS["warn-selector"]
    assert resolve("report") is COMMANDS["review-report"]
    assert resolve("store") is COMMANDS["review-store"]
    # The command names and the seed script names still work.
    assert resolve("ack-gate-review") is COMMANDS["ack-gate-review"]
    assert resolve("commonplace-review-sweep") is COMMANDS["review-sweep"]
    assert resolve("stauts") is None
    # A verb appears once its command exists: no verb points at nothing.
    assert all(VERBS[v][0] in COMMANDS for v in verbs())


def test_umbrella_help_lists_verbs_first_with_their_command_names() -> None:
    text = umbrella_help()
    lines = text.splitlines()
    first_command = next(i for i, line in enumerate(lines) if line.startswith("  "))
    assert lines[first_command].split()[:1] == ["status"]
    assert lines[first_command].split()[-1] == "review-target-selector"
    assert text.index("everyday:") < text.index("setup and maintenance:") < text.index("orchestr")
    assert "  completion" in text


@pytest.mark.parametrize("verb", ["status", "review", "fixes", "report", "store"])
def test_a_verb_runs_its_command_under_the_name_typed(tmp_path: Path, verb: str) -> None:
    done = run_script("commonplace", [verb, "--help"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: commonplace {verb} ")
    assert "examples:" in done.stdout


def test_a_mistyped_command_gets_the_closest(tmp_path: Path) -> None:
    done = run_script("commonplace", ["stauts"], cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == "error: unknown command 'stauts' (did you mean 'status'?)\n"
    crafted = run_script("commonplace", ["sta\ntus\x1b[2J"], cwd=tmp_path)
    assert crafted.stderr == (
        "error: unknown command 'sta\\ntus\\x1b[2J' (did you mean 'status'?)\n"
    )
    long_name = run_script("commonplace", ["review-sweeep"], cwd=tmp_path)
    assert "(did you mean 'review-sweep'" in long_name.stderr


@pytest.mark.parametrize("name", sorted(EVERY_COMMAND))
def test_every_command_has_examples_that_parse(name: str) -> None:
    commands = example_commands(name)
    assert len(commands) >= 2, f"{name}: give 2-4 examples in cli/examples.py"
    for words in commands:
        spec = resolve(words[1])
        assert spec is EVERY_COMMAND[name], (name, words)
        _, parser = build_parser(spec, f"commonplace {words[1]}")
        try:
            parser.parse_args(words[2:])  # parsed only, never run
        except SystemExit as exc:  # argparse refused the example
            pytest.fail(f"{name}: example does not parse ({exc.code}): {' '.join(words)}")


def test_examples_name_only_known_commands() -> None:
    assert set(EXAMPLES) == set(EVERY_COMMAND)


def test_examples_are_in_the_help() -> None:
    _, parser = build_parser(COMMANDS["review-sweep"], "commonplace review")
    text = parser.format_help()
    assert "examples:\n  # see what a sweep would do" in text
    assert "commonplace review --runner claude-code --model sonnet --dry-run" in text


def test_a_mistyped_choice_or_option_gets_the_closest(cli, example_kb: Path) -> None:
    choice = cli("review-store", "chek", cwd=example_kb)
    line = assert_refused(choice, 2, mentions="invalid choice")
    assert line.endswith("(did you mean 'check'?)")
    option = cli("review-target-selector", "--modle", "demo", cwd=example_kb)
    line = assert_refused(option, 2, mentions="unrecognized arguments")
    assert line.endswith("(did you mean '--model'?)")


def test_a_mistyped_gate_or_lens_gets_the_closest(cli, example_kb: Path) -> None:
    lens = cli("review-target-selector", "clarty", "--model", "demo", cwd=example_kb)
    line = assert_refused(lens, 1)
    assert line == "error: gate not found: clarty (did you mean 'clarity'?)"
    gate = cli("resolve-gates", "claims/title-states-a-clam", cwd=example_kb)
    line = assert_refused(gate, 1)
    assert line.endswith("(did you mean 'claims/title-states-a-claim'?)")


def test_a_mistyped_note_gets_the_closest(cli, example_kb: Path) -> None:
    note = cli("review-target-selector", "--note", "kb/notes/frost-date.md", *MODEL, cwd=example_kb)
    line = assert_refused(note, 1)
    assert line == (
        "error: note not found: kb/notes/frost-date.md (did you mean 'kb/notes/frost-dates.md'?)"
    )
    # After --note, a mistyped lens is read as a note; the lens is suggested.
    typo = cli("review-target-selector", "--note", EX_NOTE, "clarty", *MODEL, cwd=example_kb)
    assert assert_refused(typo, 1).endswith("(did you mean 'clarity'?)")
    gate = "clarity/undefned-abbreviation"
    typo = cli("review-target-selector", "--note", EX_NOTE, gate, *MODEL, cwd=example_kb)
    assert assert_refused(typo, 1).endswith("(did you mean 'clarity/undefined-abbreviation'?)")


def test_a_mistyped_runner_gets_the_closest(cli, example_kb: Path) -> None:
    done: Result = cli(
        "run-review-bundle",
        EX_NOTE,
        "clarity",
        "--runner",
        "stand-inn",
        "--model",
        "demo",
        cwd=example_kb,
    )
    line = assert_refused(done, 2)
    assert line == "error: unknown runner 'stand-inn' (did you mean 'stand-in'?)"
