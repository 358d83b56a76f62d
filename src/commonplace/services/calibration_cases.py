"""What gate calibration reviews (issue 18): a case is a pair whose expected
decision someone stated, either a labelled example file next to its gate or
a person's label on a note of the KB."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class CaseSource(Enum):
    EXAMPLE = "example"
    """An example file under `<gate>.examples/` with its `expected` decision."""
    LABEL = "label"
    """A person's verdict on a KB note (`commonplace label`)."""


@dataclass(frozen=True)
class CalibrationCase:
    note_path: str
    """KB-relative path of the example file or the labelled note."""
    gate_id: str
    expected: str
    """`pass`, `warn` or `fail`."""
    why: str | None
    source: CaseSource
