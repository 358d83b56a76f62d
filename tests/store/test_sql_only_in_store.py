"""The store layer is the only place SQL lives: no module outside
`commonplace/store/` holds an SQL statement in a string or imports sqlite3,
so a second backend changes one package."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import commonplace

SRC = Path(commonplace.__file__).parent
STORE = SRC / "store"
SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE)\b")  # upper case: SQL, not prose

pytestmark = pytest.mark.one_backend  # opens no review store


def sql_findings(path: Path, root: Path = SRC) -> list[str]:
    """`file:line` of every SQL-looking string and sqlite3 import in a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    where = path.relative_to(root)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if SQL.search(node.value):
                found.append(f"{where}:{node.lineno}: SQL in a string")
        elif isinstance(node, ast.Import):
            if any(alias.name.split(".")[0] == "sqlite3" for alias in node.names):
                found.append(f"{where}:{node.lineno}: imports sqlite3")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sqlite3":
            found.append(f"{where}:{node.lineno}: imports sqlite3")
    return found


def test_no_sql_and_no_sqlite3_outside_the_store_layer() -> None:
    outside = [p for p in sorted(SRC.rglob("*.py")) if STORE not in p.parents]
    assert len(outside) > 50  # the walk really saw the package
    assert [f for p in outside for f in sql_findings(p)] == []


def test_the_store_layer_is_where_they_are() -> None:
    findings = [f for p in sorted(STORE.glob("*.py")) for f in sql_findings(p)]
    assert any(f.startswith("store/sqlite.py") and "imports sqlite3" in f for f in findings)
    assert any(f.startswith("store/runs.py") and "SQL in a string" in f for f in findings)


def test_the_check_finds_sql_in_every_string_form(tmp_path: Path) -> None:
    module = tmp_path / "planted.py"
    module.write_text(
        '"""Module docstring that reads fine."""\n'
        "import os, sqlite3 as db\n"
        "from sqlite3 import Row\n"
        'A = "select and update nothing, in prose"\n'
        'B = f"DELETE FROM review_runs WHERE id = {os.getpid()}"\n'
        "def f():\n"
        '    return ("SELECT id"\n'
        '            " FROM review_runs")\n',
        encoding="utf-8",
    )
    assert sql_findings(module, tmp_path) == [
        "planted.py:2: imports sqlite3",
        "planted.py:3: imports sqlite3",
        "planted.py:5: SQL in a string",
        "planted.py:7: SQL in a string",
    ]


# The store functions that change runs, their reviews and batches, and append
# full-review acceptance: the lifecycle is their only caller (SPEC 6).
LIFECYCLE_WRITERS = {
    "add_batch",
    "add_run",
    "add_run_gates",
    "add_gate_reviews",
    "set_prompt",
    "attach_run_data",
    "attach_batch_data",
    "fill_batch_telemetry",
    "set_document",
    "set_documents",
    "finish_running",
    "close_batch_if_done",
    "rekey_run",
    "accept_run_reviews",
    "move_history",
    "add_relocation",
}


def writer_uses(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.alias):
            names.append(node.name.rsplit(".", 1)[-1])
        elif isinstance(node, ast.Attribute):
            names.append(node.attr)
        elif isinstance(node, ast.Name):
            names.append(node.id)
    return [f"{path.relative_to(SRC)}: {name}" for name in names if name in LIFECYCLE_WRITERS]


def test_only_the_lifecycle_calls_the_store_writers_of_runs() -> None:
    lifecycle = SRC / "lifecycle"
    others = [
        p
        for p in sorted(SRC.rglob("*.py"))
        if STORE not in p.parents and lifecycle not in p.parents
    ]
    assert [use for p in others for use in writer_uses(p)] == []
    used = {use.split(": ")[1] for p in sorted(lifecycle.glob("*.py")) for use in writer_uses(p)}
    assert used == LIFECYCLE_WRITERS  # every writer named here exists and is the lifecycle's
