"""The figures of a gate's calibration (issue 18), from each case's expected
decision and the decisions its reviews gave at the current versions, and the
thresholds CI holds them to (`--fail-under`, `--fail-over`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from commonplace.errors import UsageError

DECISIONS = ("pass", "warn", "fail", "error", "unknown")
EXPECTED = ("pass", "warn", "fail")
FLAGGED = frozenset({"warn", "fail"})
METRICS = ("accuracy", "hit_rate", "false_alarm_rate", "self_consistency")


@dataclass(frozen=True)
class CaseResult:
    note_path: str
    expected: str
    decisions: tuple[str, ...]  # at the current versions, oldest first; () when none

    @property
    def decided(self) -> str:
        """The latest decision; `error` when no review judged these versions."""
        return self.decisions[-1] if self.decisions else "error"


@dataclass(frozen=True)
class GateCalibration:
    """One gate in one partition: plain data, for reports and `--json`."""

    gate_id: str
    model_id: str
    examples: int
    accuracy: float | None
    hit_rate: float | None  # expected warn/fail decided warn/fail
    false_alarm_rate: float | None  # expected pass decided warn/fail
    confusion: dict[str, dict[str, int]]  # expected -> decided -> cases
    stale: int  # cases no accepted review (pass, warn, fail) judged as they are now
    repeats: int  # the reviews per case the consistency figure reads
    self_consistency: float | None  # share of cases whose decision never changed
    changed: int  # cases whose decision changed across those reviews

    @property
    def is_stale(self) -> bool:
        return self.stale > 0

    def metric(self, name: str) -> float | None:
        value = getattr(self, name)
        return value if isinstance(value, float) else None


def figures(
    gate_id: str, model_id: str, cases: Sequence[CaseResult], repeat: int
) -> GateCalibration:
    confusion = {e: dict.fromkeys(DECISIONS, 0) for e in EXPECTED}
    for case in cases:
        confusion[case.expected][case.decided] += 1
    flagged_expected = [c for c in cases if c.expected in FLAGGED]
    clean_expected = [c for c in cases if c.expected == "pass"]
    consistent = [c for c in cases if len(c.decisions) >= 2]
    changed = sum(1 for c in consistent if len(set(c.decisions[-repeat:])) > 1)
    return GateCalibration(
        gate_id=gate_id,
        model_id=model_id,
        examples=len(cases),
        accuracy=_share(sum(1 for c in cases if c.decided == c.expected), len(cases)),
        hit_rate=_share(
            sum(1 for c in flagged_expected if c.decided in FLAGGED), len(flagged_expected)
        ),
        false_alarm_rate=_share(
            sum(1 for c in clean_expected if c.decided in FLAGGED), len(clean_expected)
        ),
        confusion=confusion,
        stale=sum(1 for c in cases if not set(c.decisions) & set(EXPECTED)),
        repeats=repeat,
        self_consistency=(
            _share(len(consistent) - changed, len(consistent)) if repeat > 1 else None
        ),
        changed=changed if repeat > 1 else 0,
    )


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True)
class Threshold:
    metric: str
    value: float
    under: bool  # True: fail when below the value; False: when above it

    def violated_by(self, gate: GateCalibration) -> str | None:
        found = gate.metric(self.metric)
        if found is None or (found >= self.value if self.under else found <= self.value):
            return None
        side = "under" if self.under else "over"
        return f"{gate.gate_id}: {self.metric} {found:.3f} is {side} {self.value:g}"


def parse_threshold(text: str, *, under: bool) -> Threshold:
    """`METRIC=VALUE`, the value a number from 0 to 1."""
    name, sep, raw = text.partition("=")
    name = name.strip().replace("-", "_")
    flag = "--fail-under" if under else "--fail-over"
    if not sep or name not in METRICS:
        raise UsageError(f"{flag} takes METRIC=VALUE with METRIC one of {', '.join(METRICS)}")
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise UsageError(f"{flag} {name}: the value must be a number from 0 to 1, not {raw[:40]!r}")
    return Threshold(name, value, under)


def violations(gates: Sequence[GateCalibration], thresholds: Sequence[Threshold]) -> list[str]:
    return [v for t in thresholds for g in gates if (v := t.violated_by(g)) is not None]
