"""`commonplace doctor`: check a KB's configuration, gates, store and
runners, and say what is wrong and how to fix it. Every check returns plain
`Finding`s; nothing here writes anything."""

from __future__ import annotations

import os
from pathlib import Path

from commonplace.services.doctor.findings import OK, PROBLEM, SEVERITIES, WARNING, Finding

__all__ = ["OK", "PROBLEM", "SEVERITIES", "WARNING", "Finding", "diagnose"]


def diagnose(start: Path, *, db: str | os.PathLike[str] | None = None) -> list[Finding]:
    """Every finding for the KB at or above `start`, settings first."""
    from commonplace.services.doctor.kb_checks import check_kb
    from commonplace.services.doctor.runner_checks import check_runners
    from commonplace.services.doctor.settings_checks import check_settings
    from commonplace.services.doctor.store_checks import check_store

    config, findings = check_settings(start)
    if config is None:
        return findings
    findings += check_kb(config)
    findings += check_store(config, db)
    findings += check_runners(config)
    return findings
