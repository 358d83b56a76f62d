"""Gate health (issue 18): per gate of the report, its firing rate in the
report's partition, its agreement with every other partition, its flags,
and, when given, its calibration figures and the pairs where a person's
label disagrees with a model.

Calibration and labels are computed elsewhere (`calibrate`, `label`); they
reach the report as plain data in `ReportData.calibration` and
`ReportData.label_disagreements`, and their parts are shown only when
present. Firing and agreement come from the store (`services.agreement`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

from commonplace.services.agreement import Agreement, Firing
from commonplace.services.labels import LabelDisagreement

if TYPE_CHECKING:
    from commonplace.reports.data import ReportData
    from commonplace.workspace import Workspace

CALIBRATION_STALE = "calibration-stale"
LABEL_DISAGREEMENTS_CAP = 20  # per gate


@dataclass(frozen=True)
class Calibration:
    """One gate's calibration in one partition (from `calibrate`)."""

    gate_id: str
    model_id: str
    examples: int
    accuracy: float | None
    hit_rate: float | None
    false_alarm_rate: float | None
    confusion: Mapping[str, Mapping[str, int]]
    """expected decision -> decided -> examples."""
    stale: bool = False
    """An example or the gate changed since it was calibrated."""

    def as_dict(self) -> dict[str, object]:
        return {
            "model_id": self.model_id,
            "examples": self.examples,
            "accuracy": self.accuracy,
            "hit_rate": self.hit_rate,
            "false_alarm_rate": self.false_alarm_rate,
            "confusion": {k: dict(v) for k, v in self.confusion.items()},
            "stale": self.stale,
        }


@dataclass(frozen=True)
class GateHealth:
    gate_id: str
    firing: Firing | None
    """In the report's partition; None when it reviewed none of the gate's pairs."""
    agreements: tuple[Agreement, ...]
    """With each other partition; the report's partition is `model_a`."""
    calibration: Calibration | None = None
    """In the report's partition, when calibration was given."""
    label_disagreements: tuple[LabelDisagreement, ...] = ()
    more_label_disagreements: int = 0

    @property
    def flags(self) -> tuple[str, ...]:
        flags = [self.firing.flag] if self.firing is not None and self.firing.flag else []
        if self.calibration is not None and self.calibration.stale:
            flags.append(CALIBRATION_STALE)
        return tuple(flags)

    def as_dict(self) -> dict[str, object]:
        firing = self.firing
        return {
            "gate_id": self.gate_id,
            "reviewed": firing.reviewed if firing else 0,
            "firing_rate": round(firing.rate, 6) if firing else None,
            "flags": list(self.flags),
            "agreement": [_with_cells(a) for a in self.agreements],
            "calibration": self.calibration.as_dict() if self.calibration else None,
            "label_disagreements": [
                {
                    "note_path": d.note_path,
                    "model_id": d.model_id,
                    "label": d.label_decision,
                    "model": d.model_decision,
                    "cell": cell_fragment(d.note_path, d.gate_id),
                }
                for d in self.label_disagreements
            ],
            "more_label_disagreements": self.more_label_disagreements,
        }


def gate_health(data: ReportData) -> tuple[GateHealth, ...]:
    """One entry per gate of the report, in the report's gate order."""
    quality = data.gate_quality
    mine = data.model_id
    firing = {f.gate_id: f for f in quality.firing if f.model_id == mine}
    agreements: dict[str, list[Agreement]] = {}
    for a in quality.agreements:
        if mine in (a.model_a, a.model_b):
            agreements.setdefault(a.gate_id, []).append(a if a.model_a == mine else a.flipped())
    calibration = {c.gate_id: c for c in data.calibration if c.model_id == mine}
    labels: dict[str, list[LabelDisagreement]] = {}
    for d in sorted(data.label_disagreements, key=lambda d: (d.note_path, d.model_id)):
        labels.setdefault(d.gate_id, []).append(d)
    return tuple(
        GateHealth(
            gate_id=g.gate_id,
            firing=firing.get(g.gate_id),
            agreements=tuple(sorted(agreements.get(g.gate_id, ()), key=lambda a: a.model_b)),
            calibration=calibration.get(g.gate_id),
            label_disagreements=tuple(labels.get(g.gate_id, [])[:LABEL_DISAGREEMENTS_CAP]),
            more_label_disagreements=max(
                0, len(labels.get(g.gate_id, ())) - LABEL_DISAGREEMENTS_CAP
            ),
        )
        for g in data.gates
    )


def _with_cells(agreement: Agreement) -> dict[str, object]:
    figures = agreement.as_dict()
    figures["disagreements"] = [
        {
            "note_path": d.note_path,
            "decision": d.decision_a,
            "other_decision": d.decision_b,
            "cell": cell_fragment(d.note_path, agreement.gate_id),
        }
        for d in agreement.disagreements
    ]
    return figures


def cell_fragment(note_path: str, gate_id: str) -> str:
    """The HTML report's link to a pair's review (`report.js` reads it back
    with decodeURIComponent)."""
    return "#cell=" + quote(f"{note_path}::{gate_id}", safe="-_.!~*'()")


def calibration_rows(ws: Workspace, model_id: str) -> tuple[Calibration, ...]:
    """The calibration of the report's partition, from the store as it is
    (no review is made): one row per catalog gate that has examples."""
    from commonplace.services.calibration import partition_calibration

    return tuple(
        Calibration(
            gate_id=c.gate_id,
            model_id=c.model_id,
            examples=c.examples,
            accuracy=c.accuracy,
            hit_rate=c.hit_rate,
            false_alarm_rate=c.false_alarm_rate,
            confusion=c.confusion,
            stale=c.is_stale,
        )
        for c in partition_calibration(ws, model_id)
    )


def label_rows(ws: Workspace, model_id: str) -> tuple[LabelDisagreement, ...]:
    """Where a person's label and this partition's review of the same
    versions decided otherwise (`commonplace label`)."""
    from commonplace.services.labels import label_disagreements

    return tuple(label_disagreements(ws.store, model_id))
