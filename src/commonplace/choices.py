"""The closed sets of values the library and the command line share, and the
defaults of the numbers a user may change: each written once, here.

Building a command's parser imports this module, so it stays light (no
store, no SQLite)."""

from __future__ import annotations

from enum import StrEnum


class Effort(StrEnum):
    """Reasoning effort, part of a model partition (SPEC 4)."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    XHIGH = "xhigh"
    MAX = "max"


EFFORTS: tuple[str, ...] = tuple(Effort)


class StaleReason(StrEnum):
    GATE_DIRTY = "gate-dirty"
    MISSING_REVIEW = "missing-review"
    GATE_CHANGED = "gate-changed"
    NOTE_CHANGED = "note-changed"
    IN_PROGRESS = "in-progress"  # stale, but a live process is reviewing it now


# Why a note or gate found cannot be reviewed (kb.unreviewable): listed, never stale.
UNREVIEWABLE_NAME = "unreviewable-name"  # the pair grammar cannot carry the name
UNREADABLE_NOTE = "unreadable-note"  # not readable text, or frontmatter that is no mapping
UNUSABLE_GATE = "unusable-gate"  # a gate file that cannot be read or defines nothing usable
UNREVIEWABLE_REASONS: tuple[str, ...] = (UNREVIEWABLE_NAME, UNREADABLE_NOTE, UNUSABLE_GATE)


class Grouping(StrEnum):
    """How `review-sweep` packs stale pairs into batches."""

    LENS = "lens"  # one batch per note and lens
    NOTE = "note"  # one batch per note, all its stale gates


GROUPINGS: tuple[str, ...] = tuple(Grouping)

DEFAULT_TIMEOUT = 1800.0  # seconds a runner call may take, unless configured
DEFAULT_JOBS = 2  # batches a sweep runs at once, unless configured
DEFAULT_BATCH_SIZE = 5  # notes per batch of a gate sweep
