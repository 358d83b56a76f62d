"""`commonplace init`: a commented commonplace.toml for the layout found, the
store and bulky artifacts in `.gitignore`, and optionally a starter lens.

Everything is checked before anything is written, so a refusal writes
nothing; commonplace.toml is written last, so an init stopped half-way can
simply be run again (`.gitignore` lines are never repeated, gate files never
overwritten). Every write goes through `safe_files`: never through a link.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from commonplace import safe_files
from commonplace.config import CONFIG_FILE
from commonplace.errors import UserError
from commonplace.kb.layout import Layout, detect_layout
from commonplace.services.artifacts import BUNDLE_REVIEWS

GITIGNORE = ".gitignore"
STARTER_LENS = "starter"
GITIGNORE_HEADER = "# commonplace review: the review store and generated review artifacts"
SETTING = "commonplace init"


@dataclass(frozen=True)
class InitResult:
    kb_root: Path
    is_git: bool
    layout: Layout
    config_text: str
    gitignore_added: tuple[str, ...]  # lines appended (empty: all were there)
    gitignore_created: bool
    gates_written: tuple[str, ...]  # KB-relative paths of the starter gates written
    gates_kept: tuple[str, ...]  # starter gates already there, left as they were


def choose_root(root: Path | None, cwd: Path) -> Path:
    """`--root`, else the folder at or above `cwd` that a command run there
    would take for the KB (one with a configuration, or the git top level),
    else `cwd` itself."""
    if root is not None:
        chosen = root if root.is_absolute() else cwd / root
        if not chosen.is_dir():
            raise UserError(f"--root {root}: not a folder")
        return Path(os.path.abspath(chosen))
    start = Path(os.path.abspath(cwd))
    for directory in (start, *start.parents):
        if os.path.lexists(directory / CONFIG_FILE) or _configured_pyproject(directory):
            return directory
        if (directory / ".git").exists():
            return directory
    return start


def init_kb(kb_root: Path, *, example_gates: bool) -> InitResult:
    from commonplace.git import read_state

    _refuse_existing(kb_root)
    safe_files.refuse_links(kb_root, kb_root / GITIGNORE, setting=SETTING)
    git = read_state(kb_root, ["."])
    layout = detect_layout(kb_root, git)
    starters = _starter_gates() if example_gates else {}
    lens = f"{layout.gates_dir}/{STARTER_LENS}"
    if starters:
        safe_files.refuse_links(kb_root, kb_root / lens, setting=SETTING, entries=True)
    text = render_config(layout, is_git=git.is_repo)
    old = _read_gitignore(kb_root)
    added = gitignore_lines(layout, old)

    written: list[str] = []
    kept: list[str] = []
    for name, data in starters.items():
        key = f"{lens}/{name}"
        wrote = safe_files.write_file(
            kb_root, kb_root / key, data, setting=SETTING, overwrite=False
        )
        (written if wrote else kept).append(key)
    if added:
        safe_files.write_file(kb_root, kb_root / GITIGNORE, _appended(old, added), setting=SETTING)
    if not safe_files.write_file(
        kb_root, kb_root / CONFIG_FILE, text.encode("utf-8"), setting=SETTING, overwrite=False
    ):
        raise UserError(f"{CONFIG_FILE} appeared in {kb_root} while init ran; it is kept")
    return InitResult(
        kb_root=kb_root,
        is_git=git.is_repo,
        layout=layout,
        config_text=text,
        gitignore_added=tuple(added),
        gitignore_created=old is None and bool(added),
        gates_written=tuple(written),
        gates_kept=tuple(kept),
    )


def _refuse_existing(kb_root: Path) -> None:
    config = kb_root / CONFIG_FILE
    try:
        mode = config.lstat().st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and stat.S_ISLNK(mode):
        raise safe_files.LinkRefused(
            f"refusing to write {CONFIG_FILE}: it is a symbolic link, and init writes"
            " nothing through one; nothing was written"
        )
    if mode is not None:
        raise UserError(
            f"{CONFIG_FILE} already exists in {kb_root}; init never overwrites it and"
            " wrote nothing (edit it, or move it away and run init again)"
        )
    if _configured_pyproject(kb_root):
        raise UserError(
            f"pyproject.toml in {kb_root} already has [tool.commonplace]; init never"
            " overwrites a configuration and wrote nothing"
        )


def _configured_pyproject(directory: Path) -> bool:
    import tomllib

    path = directory / "pyproject.toml"
    if not path.is_file():
        return False
    try:
        tool = tomllib.loads(path.read_text(encoding="utf-8")).get("tool", {})
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        raise UserError(f"{path}: cannot read it as TOML ({exc}); fix it first") from None
    return isinstance(tool, dict) and "commonplace" in tool


def _starter_gates() -> dict[str, bytes]:
    """The starter gates and their examples (`<gate>.examples/<name>.md`),
    by path relative to the lens folder."""
    folder = resources.files("commonplace.kb") / "starter"
    found: dict[str, bytes] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".md") and entry.is_file():
            found[entry.name] = entry.read_bytes()
        elif entry.name.endswith(".examples") and entry.is_dir():
            for example in sorted(entry.iterdir(), key=lambda e: e.name):
                if example.name.endswith(".md") and example.is_file():
                    found[f"{entry.name}/{example.name}"] = example.read_bytes()
    return found


def _read_gitignore(kb_root: Path) -> bytes | None:
    """The current `.gitignore` (None: there is none); its link was refused."""
    try:
        fd = os.open(kb_root / GITIGNORE, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UserError(f"cannot read {GITIGNORE}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise UserError(f"{GITIGNORE} is not a regular file")
        return handle.read()


def gitignore_lines(layout: Layout, old: bytes | None) -> list[str]:
    """The lines `.gitignore` lacks: the store and its side files, and the
    bundle-reviews folder (prompts and raw outputs, written again from the
    store when needed). Patterns are anchored at the KB root."""
    from commonplace.store.sqlite import RESERVE_SUFFIX, SIDE_FILES

    wanted = [
        GITIGNORE_HEADER,
        *(f"/{layout.store}{suffix}" for suffix in ("", *SIDE_FILES, RESERVE_SUFFIX)),
        f"/{layout.reports_dir}/{BUNDLE_REVIEWS}/",
    ]
    text = "" if old is None else old.decode("utf-8", "replace")
    present = {line.strip() for line in text.splitlines()}
    missing = [line for line in wanted if line not in present]
    return [] if missing == [GITIGNORE_HEADER] or not missing else missing


def _appended(old: bytes | None, lines: list[str]) -> bytes:
    head = old or b""
    if head and not head.endswith(b"\n"):
        head += b"\n"
    return head + "".join(f"{line}\n" for line in lines).encode("utf-8")


def toml_string(value: str) -> str:
    """A TOML basic string. Detected names are printable (layout keeps only
    names a pair line can carry), so JSON's escaping of `"` and `\\` is TOML's."""
    if not value.isprintable():
        raise UserError(f"cannot write {value!r} into {CONFIG_FILE}")
    return json.dumps(value, ensure_ascii=False)


def render_config(layout: Layout, *, is_git: bool) -> str:
    from commonplace.choices import DEFAULT_JOBS, DEFAULT_TIMEOUT
    from commonplace.settings import DEFAULT_LEASE_SECONDS

    roots = ", ".join(toml_string(r) for r in layout.scan_roots)
    found_notes = (
        f"found {layout.notes_found} note(s) there"
        if layout.roots_detected
        else "no note was found, so these are the defaults"
    )
    found_gates = (
        f"found {layout.gates_found} gate(s) there"
        if layout.gates_found
        else "no gate was found yet"
    )
    ignored = "and not ignored by git" if is_git else "(and, in a git repository, not ignored)"
    text = f"""\
# commonplace.toml: how commonplace review reads this knowledge base.
# Written by `commonplace init`. Paths are relative to this folder (the KB
# root) and must stay inside it. `commonplace doctor` checks this file.

# Folders searched for notes: .md files with YAML frontmatter, outside any
# types/ folder, other than index.md and *-index.md, {ignored}.
# init {found_notes}.
scan_roots = [{roots}]

# true: the notes of a scan root's subfolders too; false: only those directly in it.
recursive = true

# The catalog gates: <gates_dir>/<lens>/<name>.md is the gate <lens>/<name>,
# and naming a lens names all its gates (docs/gates.md). init {found_gates}.
gates_dir = {toml_string(layout.gates_dir)}

# Review artifacts: bundle-reviews/ holds each batch's prompt and raw output
# and each run's review files (written again from the store when needed).
reports_dir = {toml_string(layout.reports_dir)}

# The review store: a SQLite file in the KB, or a PostgreSQL URL without its
# password for a team store (docs/team.md). --db and COMMONPLACE_REVIEW_DB
# override it.
store = {toml_string(layout.store)}

# The PostgreSQL schema that holds this KB's store (a server store only).
# schema = "my_kb"

# Seconds a running review run stays live unless its owner renews its lease.
# lease_seconds = {DEFAULT_LEASE_SECONDS:g}

# Model aliases, resolved before the partition is named: --model opus means
# the model given here.
[models]
# opus = "claude-opus-4-6"

# What commands take when --runner, --model, --effort, --timeout or --jobs is
# not given (any other key is an error).
[defaults]
# runner = "claude-code"        # or codex, anthropic-api, openai-api, a [runners.<name>]
# model = "sonnet"
# effort = "high"               # low, medium, high, xhigh or max; only with the default model
# timeout = {DEFAULT_TIMEOUT:g}               # seconds a runner call may take
# jobs = {DEFAULT_JOBS}                     # batches a sweep runs at once

# A runner of your own: the prompt on stdin, the review on stdout
# (docs/runners.md). Then: commonplace review --runner my-llm --model M
# [runners.my-llm]
# command = ["python3", "tools/review-with-llm.py"]   # relative to the KB root
# timeout = 600

# Prices that replace or add to the shipped table, USD per million tokens.
# [pricing.my-model]
# input = 3.0
# output = 15.0
"""
    _check(text, layout)
    return text


def _check(text: str, layout: Layout) -> None:
    """The file must read back as exactly what was detected."""
    import tomllib

    read = tomllib.loads(text)
    expected = {
        "scan_roots": list(layout.scan_roots),
        "gates_dir": layout.gates_dir,
        "reports_dir": layout.reports_dir,
        "store": layout.store,
    }
    if any(read.get(key) != value for key, value in expected.items()):
        raise UserError(f"the {CONFIG_FILE} init would write does not read back as detected")
