"""The help formatter every command's parser uses.

argparse makes a formatter for every option it adds (to check the option),
and its own asks `shutil` for the terminal's width: importing shutil (with
bz2 and lzma) at every command's start for help that is rarely shown. This
one asks the same question the same way, without shutil.
"""

from __future__ import annotations

import argparse
import os
import sys


def formatter(*, prog: str) -> argparse.HelpFormatter:
    """Descriptions and examples as written, wrapped to the terminal (less
    the two columns argparse leaves when it asks for the width itself)."""
    return argparse.RawDescriptionHelpFormatter(prog, width=columns() - 2)


def columns() -> int:
    """`shutil.get_terminal_size().columns`: `COLUMNS` when it is a positive
    number, else the width of the terminal on stdout, else 80."""
    try:
        width = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        width = 0
    if width <= 0:
        stream = sys.__stdout__
        try:
            width = os.get_terminal_size(stream.fileno()).columns if stream else 0
        except (AttributeError, ValueError, OSError):
            width = 0
    return width or 80
