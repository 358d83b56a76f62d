"""How harness CLIs word a usage limit or an authentication failure. Matched
only against what the CLI itself reports (error events, synthetic notices,
stderr), never against review text: a note may well quote such a phrase."""

from __future__ import annotations

import re

USAGE_LIMIT_PATTERN = re.compile(
    r"usage limit|out of (?:extra )?usage|rate[ _-]?limit|credit balance is too low"
    r"|quota|too many requests|\b429\b|insufficient[ _]quota",
    re.IGNORECASE,
)
AUTH_PATTERN = re.compile(
    r"\b401\b|\b403\b|unauthori[sz]ed|invalid (?:x-)?api[ _-]?key|authentication|not logged in"
    r"|please run /login|forbidden",
    re.IGNORECASE,
)
