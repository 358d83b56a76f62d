"""What the selector command imports: the lifecycle's writers and the
similarity search of `did you mean` are left out of its common path (they
cost it start-up time for nothing). A child process, as a console script
starts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

WRITERS = (
    "commonplace.lifecycle.create",
    "commonplace.lifecycle.record",
    "commonplace.lifecycle.finalize",
    "commonplace.lifecycle.fail",
    "commonplace.lifecycle.rekey",
    "commonplace.lifecycle.override",
    "commonplace.lifecycle.leases",
    "commonplace.lifecycle.targets",
)
SELECTOR = """\
import json, sys
from commonplace.cli.main import review_target_selector
sys.argv = ["commonplace-review-target-selector", "--all-gates", "--model", "m", "--json"]
try:
    review_target_selector()
except SystemExit as exc:
    code = exc.code
with open(OUT, "w") as out:
    json.dump([code, sorted(sys.modules)], out)
"""


def _child(code: str, cwd: Path, tmp_path: Path) -> object:
    """What `code`, run by a new interpreter in `cwd`, writes as JSON to the file OUT."""
    out = tmp_path / "child.json"
    program = f"OUT = {str(out)!r}\n{code}"
    subprocess.run(
        [sys.executable, "-c", program], cwd=cwd, check=True, capture_output=True, timeout=120
    )
    return json.loads(out.read_text(encoding="utf-8"))


def test_the_selector_loads_no_lifecycle_writer(example_kb: Path, tmp_path: Path) -> None:
    found = _child(SELECTOR, example_kb, tmp_path)
    assert isinstance(found, list)
    code, modules = found
    assert code == 0
    assert "commonplace.lifecycle.claims" in modules  # in-progress pairs are asked
    assert [m for m in WRITERS if m in modules] == []


def test_gates_load_difflib_only_to_suggest(tmp_path: Path) -> None:
    code = (
        "import json, sys\n"
        "import commonplace.kb.gates\n"
        "before = 'difflib' in sys.modules\n"
        "from commonplace.kb.suggest import did_you_mean\n"
        "hint = did_you_mean('proze', ['prose'])\n"
        "json.dump([before, 'difflib' in sys.modules, hint], open(OUT, 'w'))\n"
    )
    assert _child(code, tmp_path, tmp_path) == [
        False,
        True,
        " (did you mean 'prose'?)",
    ]


def test_lifecycle_names_are_found_when_first_used() -> None:
    import importlib

    from commonplace import lifecycle

    for name in lifecycle.__all__:
        home = importlib.import_module(f"commonplace.lifecycle.{lifecycle._HOMES[name]}")
        assert getattr(lifecycle, name) is getattr(home, name)
    assert sorted(lifecycle._HOMES) == sorted(lifecycle.__all__)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = lifecycle.nothing  # type: ignore[attr-defined]
