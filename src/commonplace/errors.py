"""The error tiers every command shares.

A `UserError` is an expected failure caused by input, configuration or state the
user can fix: the command prints `error: <message>` and exits with `exit_code`,
never a traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """An expected failure with a message meant for the user."""

    exit_code = 1

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class UsageError(UserError):
    """The command line itself is wrong (exit 2)."""

    exit_code = 2


class UsageLimitError(UserError):
    """A runner reported that its usage or rate limit is exhausted (exit 75)."""

    exit_code = 75
