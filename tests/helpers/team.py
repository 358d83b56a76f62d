"""Machines of a team for the team-sweep tests: separate clones of one KB
repository, each a host of its own (COMMONPLACE_HOST), all on one store,
reviewing through the slow reviewer (`slow_reviewer.py`)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from commonplace.store.connection import Store
from helpers.commands import run_script
from helpers.faults import assert_clean_exit, start
from helpers.kb import git

SLOW_REVIEWER = Path(__file__).with_name("slow_reviewer.py")
MODEL = "team-model"
# Three gates of one lens that apply to every note: one batch per note.
GATES = ("prose/orphan-references", "prose/pseudo-formalism", "prose/source-residue")


@dataclass(frozen=True)
class Machine:
    host: str
    kb: Path
    store: str  # the store's URL (schema in it) or file path

    @property
    def env(self) -> dict[str, str]:
        return {"COMMONPLACE_HOST": self.host, "COMMONPLACE_REVIEW_DB": self.store}

    def start(self, name: str, *args: str) -> subprocess.Popen[str]:
        return start(name, *args, cwd=self.kb, env=self.env)

    def run(self, name: str, *args: str) -> subprocess.CompletedProcess[str]:
        return run_script(f"commonplace-{name}", list(args), cwd=self.kb, env=self.env)

    def selector(self, notes: Sequence[str]) -> list[dict[str, str]]:
        done = self.run(
            "review-target-selector", *GATES, "--note", *notes, "--model", MODEL, "--json"
        )
        assert_clean_exit(done.returncode, done.stderr, 0)
        listed: list[dict[str, str]] = json.loads(done.stdout)
        return listed


def set_up_team(
    origin: Path,
    machines: int,
    store: str,
    *,
    sleep: float,
    lease_seconds: float,
    log: Path,
) -> list[Machine]:
    """Configure the slow reviewer (`[runners.slow]`) and the lease in the
    origin KB, commit, and clone it once per machine, beside the origin."""
    command = [sys.executable, str(SLOW_REVIEWER), "--sleep", str(sleep), "--log", str(log)]
    (origin / "commonplace.toml").write_text(
        f"lease_seconds = {lease_seconds}\n\n[runners.slow]\ncommand = {json.dumps(command)}\n",
        encoding="utf-8",
    )
    git(origin, "add", "commonplace.toml")
    git(origin, "commit", "-q", "-m", "the team's reviewer")
    team = []
    for number in range(machines):
        host = f"machine-{chr(ord('a') + number)}"
        clone = origin.parent / host
        git(origin.parent, "clone", "-q", str(origin), str(clone))
        team.append(Machine(host, clone, store))
    return team


def some_notes(kb: Path, count: int) -> list[str]:
    """The first `count` reviewable notes directly in the KB's notes folder."""
    notes = sorted(
        p.relative_to(kb).as_posix()
        for p in (kb / "kb" / "notes").glob("*.md")
        if not p.name.endswith("index.md")
        and p.read_text(encoding="utf-8").startswith("---\n")  # frontmatter: reviewable
    )
    assert len(notes) >= count
    return notes[:count]


def asked(log: Path) -> Counter[tuple[str, str]]:
    """How often the slow reviewer was asked for each pair, over all machines."""
    counts: Counter[tuple[str, str]] = Counter()
    if log.exists():
        for line in log.read_text(encoding="utf-8").splitlines():
            counts.update((note, gate) for note, gate in json.loads(line)["pairs"])
    return counts


def store_rows(store: str, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Rows of the store at `store` (a URL or a path), opened afresh: a handle
    opened before the store existed would keep reading it empty."""
    with Store(store) as opened, opened.read() as conn:
        return [tuple(row) for row in conn.execute(sql, params).fetchall()]
