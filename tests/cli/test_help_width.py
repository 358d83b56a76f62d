"""The help formatter's width is argparse's own, without importing shutil."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys

import pytest

from commonplace.cli.help_width import columns, formatter


@pytest.mark.parametrize("value", ["80", "50", "200", "0", "-3", "wide", "", None])
def test_columns_is_shutils_answer(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", value)
    assert columns() == shutil.get_terminal_size().columns


def test_help_wraps_as_argparse_would(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "44")
    made = []
    for formatter_class in (formatter, argparse.RawDescriptionHelpFormatter):
        parser = argparse.ArgumentParser(
            prog="p", description="a\n  b", formatter_class=formatter_class
        )
        parser.add_argument("--long-option-name", help="words " * 20)
        made.append(parser.format_help())
    assert made[0] == made[1]
    assert "  --long-option-name LONG_OPTION_NAME\n" in made[0]  # wrapped, help below


def test_a_command_starts_without_shutil_and_shows_its_examples() -> None:
    code = (
        "import sys\n"
        "from commonplace.cli import app\n"
        "from commonplace.cli.main import COMMANDS\n"
        "spec = COMMANDS['ingest-batch-output']\n"
        "module, parser = app.build_parser(spec)\n"
        "assert 'shutil' not in sys.modules and 'textwrap' not in sys.modules\n"
        "print(parser.format_help())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "examples:\n  # what the executor of batch 3 wrote" in done.stdout
