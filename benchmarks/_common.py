"""Small helpers shared by the benchmark scripts (standard library only)."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SCAN_ROOTS = ("kb/notes", "kb/reference")
GATES_DIR = "kb/instructions/review-gates"


def compile_package() -> None:
    """Byte-compile the package first, as an installed wheel would be: an
    editable install under PYTHONDONTWRITEBYTECODE would otherwise recompile
    every module on every start and the figures would measure the compiler."""
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(REPO_ROOT / "src")],
        check=True,
        stdout=subprocess.DEVNULL,
    )


class CommandFailed(RuntimeError):
    """A timed command exited with a non-zero status."""


@dataclass
class Timing:
    runs: list[float]
    stdout: bytes  # output of the last run

    @property
    def best(self) -> float:
        return min(self.runs)

    @property
    def median(self) -> float:
        return statistics.median(self.runs)


def find_command(name: str) -> str | None:
    """Prefer the console script installed next to this interpreter, then PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    return shutil.which(name)


def time_command(
    argv: Sequence[str],
    *,
    repeat: int,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
) -> Timing:
    """Run ``argv`` ``repeat`` times and return the wall-clock durations.

    Output is captured (and so paid for) on every run; raises CommandFailed
    when the command exits non-zero.
    """
    runs: list[float] = []
    stdout = b""
    for _ in range(max(1, repeat)):
        started = time.perf_counter()
        proc = subprocess.run(
            list(argv),
            cwd=cwd,
            env=None if env is None else dict(env),
            input=stdin,
            capture_output=True,
        )
        runs.append(time.perf_counter() - started)
        if proc.returncode != 0:
            tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-5:]
            details = "".join(f"\n  {line}" for line in tail)
            raise CommandFailed(f"{' '.join(argv)} exited with {proc.returncode}{details}")
        stdout = proc.stdout
    return Timing(runs, stdout)


def ratio_line(
    label: str, measured: float, baseline_label: str, baseline: float, target: str
) -> str:
    """Format e.g. ``x: 0.412 s vs y 0.081 s -> ratio 5.1x (target <= 8x)``."""
    ratio = measured / baseline if baseline > 0 else float("inf")
    return (
        f"{label}: {measured:.3f} s vs {baseline_label} {baseline:.3f} s"
        f" -> ratio {ratio:.1f}x (target {target})"
    )


def empty_store_env(into: str | Path, kb_root: Path) -> dict[str, str]:
    """The environment of a command on `kb_root` that reads a new, empty store in `into`.
    A store named by COMMONPLACE_REVIEW_DB must exist on read paths, so it is
    created (migrated) first, outside any timing."""
    path = Path(into) / "review-store.sqlite"
    env = dict(os.environ, COMMONPLACE_REVIEW_DB=str(path))
    command = find_command("commonplace-review-store")
    if command is None:
        raise SystemExit("error: commonplace-review-store not found; run scripts/setup.sh")
    subprocess.run([command, "migrate"], env=env, cwd=kb_root, check=True, capture_output=True)
    return env


def copy_corpus(corpus: Path, into: str | Path) -> Path:
    """A committed copy of the corpus in a fresh git repository under `into`."""
    root = Path(into) / "commonplace-kb"
    shutil.copytree(corpus, root, ignore=shutil.ignore_patterns(".git"))
    git_init_commit(root)
    return root


def git_init_commit(root: Path) -> None:
    """Make ``root`` a git repository with everything committed (fixed identity and dates)."""
    env = dict(os.environ)
    env.update(
        GIT_AUTHOR_DATE="2024-01-01T00:00:00Z",
        GIT_COMMITTER_DATE="2024-01-01T00:00:00Z",
        GIT_CONFIG_NOSYSTEM="1",
    )
    base = ["git", "-c", "user.name=Benchmark", "-c", "user.email=benchmark@example.invalid"]
    base += ["-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main"]
    base += ["-c", "core.autocrlf=false"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "--no-verify", "-m", "init"]):
        subprocess.run(base + args, cwd=root, env=env, check=True)


def _has_frontmatter(path: Path) -> bool:
    with path.open("rb") as handle:
        first = handle.readline()
    return first.rstrip(b"\r\n") == b"---"


def _is_index(name: str) -> bool:
    return name == "index.md" or name.endswith("-index.md")


def review_files(root: Path) -> tuple[list[str], list[str]]:
    """Return (notes, gates) as KB-relative POSIX paths, using the default layout.

    Notes: Markdown under the scan roots with frontmatter, outside ``types/``
    folders, not index files, not ignored by git. Gates: ``<lens>/<name>.md``.
    """
    command = ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    proc = subprocess.run(
        [*command, "--", *SCAN_ROOTS, GATES_DIR],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    if proc.returncode == 0:
        candidates = set(filter(None, proc.stdout.decode("utf-8").split("\0")))
    else:  # not a git repository: nothing is ignored
        candidates = {
            path.relative_to(root).as_posix()
            for top in (*SCAN_ROOTS, GATES_DIR)
            if (root / top).is_dir()
            for path in (root / top).rglob("*.md")
        }
    notes: list[str] = []
    gates: list[str] = []
    gate_prefix = GATES_DIR + "/"
    for rel in sorted(candidates):
        if not rel.endswith(".md"):
            continue
        parts = rel.split("/")
        if rel.startswith(gate_prefix):
            if len(parts) == len(GATES_DIR.split("/")) + 2:
                gates.append(rel)
        elif "types" in parts[:-1] or _is_index(parts[-1]):
            continue
        elif _has_frontmatter(root / rel):
            notes.append(rel)
    return notes, gates


def count_pairs(stdout: bytes) -> int | None:
    """Number of pairs in the selector's JSON output (a list, or a list inside an object)."""
    try:
        data = json.loads(stdout)
    except ValueError:
        return None
    if isinstance(data, list):
        return len(data)
    if isinstance(data, dict):
        for key in ("pairs", "stale", "targets", "items", "results"):
            if isinstance(data.get(key), list):
                return len(data[key])
        lists = [value for value in data.values() if isinstance(value, list)]
        if len(lists) == 1:
            return len(lists[0])
    return None
