"""`(did you mean ...?)` after argparse's own errors: a mistyped choice or
option. Imported only when parsing failed."""

from __future__ import annotations

import argparse
import re

from commonplace.kb.suggest import did_you_mean

# argparse's wording (3.11-3.13) of the two errors a typo causes.
_CHOICE = re.compile(r"invalid choice: '(.*)' \(choose from (.*)\)\Z", re.DOTALL)
_UNRECOGNIZED = "unrecognized arguments: "


def parse_error_hint(parser: argparse.ArgumentParser, message: str) -> str:
    """The suggestion to add to argparse's error `message`, or ``."""
    choice = _CHOICE.search(message)
    if choice is not None:
        return did_you_mean(choice.group(1), re.findall(r"'([^']*)'", choice.group(2)))
    if message.startswith(_UNRECOGNIZED):
        options = [o for a in parser._actions for o in a.option_strings if o.startswith("--")]
        for word in message.removeprefix(_UNRECOGNIZED).split():
            if word.startswith("--"):
                return did_you_mean(word.partition("=")[0], options)
    return ""
