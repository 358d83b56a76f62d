"""`commonplace completion bash|zsh`: the scripts, sourced in a real bash and
a real zsh, complete verbs, options, choices, runners and gate ids."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.commands import run_script

GATES = "kb/instructions/review-gates"
BIN = str(Path(sys.executable).parent)


def script(shell: str, tmp_path: Path) -> Path:
    done = run_script("commonplace", ["completion", shell], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    path = tmp_path / f"commonplace.{shell}"
    path.write_text(done.stdout)
    return path


def env() -> dict[str, str]:
    # The scripts call `commonplace __complete`: the installed one.
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def bash_complete(completion: Path, words: list[str], *, cwd: Path) -> list[str]:
    """What the bash completion offers after `words` (the last one being typed)."""
    quoted = " ".join("'" + w.replace("'", "'\\''") + "'" for w in words)
    program = (
        f"source {completion}\n"
        f"COMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}\n"
        "_commonplace\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    done = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", program],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env(),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [line for line in done.stdout.splitlines() if line]


def test_bash_completes_verbs_and_options(tmp_path: Path, example_kb: Path) -> None:
    bash = script("bash", tmp_path)
    assert bash_complete(bash, ["commonplace", "st"], cwd=example_kb) == ["status", "store"]
    assert bash_complete(bash, ["commonplace", "review", "--ru"], cwd=example_kb) == ["--runner"]
    # The seed scripts complete the same options.
    seed = bash_complete(bash, ["commonplace-review-sweep", "--ru"], cwd=example_kb)
    assert seed == ["--runner"]
    assert bash_complete(bash, ["commonplace", "status", "--effort", "h"], cwd=example_kb) == [
        "high"
    ]
    assert bash_complete(bash, ["commonplace", "store", "m"], cwd=example_kb) == ["migrate"]


def test_bash_completes_runners_and_gates_from_the_kb(tmp_path: Path, example_kb: Path) -> None:
    bash = script("bash", tmp_path)
    runners = bash_complete(bash, ["commonplace", "review", "--runner", "st"], cwd=example_kb)
    assert runners == ["stand-in"]
    gates = bash_complete(bash, ["commonplace", "status", "clar"], cwd=example_kb)
    assert gates[0] == "clarity"
    assert "clarity/undefined-abbreviation" in gates
    assert all(g.startswith("clar") for g in gates)
    # Outside a KB there is nothing to offer, and no error shows.
    assert bash_complete(bash, ["commonplace", "status", "clar"], cwd=tmp_path) == []


def test_a_crafted_gate_name_is_neither_run_nor_offered(tmp_path: Path, example_kb: Path) -> None:
    crafted = example_kb / GATES / "clarity" / "$(touch pwned)`touch pwned2`.md"
    crafted.write_text("---\ndescription: x\n---\nx\n")
    bash = script("bash", tmp_path)
    gates = bash_complete(bash, ["commonplace", "status", "clarity/"], cwd=example_kb)
    assert "clarity/undefined-abbreviation" in gates
    assert all("touch" not in g for g in gates)
    assert not list(example_kb.glob("pwned*")) and not list(tmp_path.glob("pwned*"))


def test_bash_registers_every_script(tmp_path: Path) -> None:
    bash = script("bash", tmp_path)
    program = f"source {bash}; complete -p commonplace commonplace-review-target-selector"
    done = subprocess.run(
        ["bash", "--norc", "-c", program], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "-F _commonplace commonplace" in done.stdout


def zsh_complete(completion: Path, words: list[str], *, cwd: Path, autoload: bool) -> list[str]:
    """What the zsh function offers after `words`, with compadd and _files
    stubbed to print what they are given: the completion system itself only
    runs inside a line editor."""
    quoted = " ".join("'" + w.replace("'", "'\\''") + "'" for w in words)
    if autoload:  # as from $fpath: the file is the function's body
        folder = completion.parent / "zfunc"
        folder.mkdir(exist_ok=True)
        shutil.copy(completion, folder / "_commonplace")
        load = f"fpath=({folder} $fpath); autoload -U _commonplace"
        call = "_commonplace"
    else:
        load, call = f"source {completion}", "_commonplace"
    program = (
        "compadd() { while [[ $# -gt 0 && $1 != -- ]]; do shift; done; shift; print -l -- $@ }\n"
        "_files() { print -- FILES }\n"
        "compdef() { print -- COMPDEF $@ >&2 }\n"
        f"{load}\n"
        f"words=({quoted}); CURRENT={len(words)}\n"
        f"{call}\n"
    )
    done = subprocess.run(
        ["zsh", "-f", "-c", program],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env(),
        check=False,
    )
    assert "command not found" not in done.stderr, done.stderr
    prefix = words[-1]
    return [w for w in done.stdout.splitlines() if w.startswith(prefix) or w == "FILES"]


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
@pytest.mark.parametrize("autoload", [False, True], ids=["sourced", "fpath"])
def test_zsh_completes_verbs_options_and_gates(
    tmp_path: Path, example_kb: Path, autoload: bool
) -> None:
    zsh = script("zsh", tmp_path)

    def offered(*words: str) -> list[str]:
        return zsh_complete(zsh, list(words), cwd=example_kb, autoload=autoload)

    assert offered("commonplace", "st") == ["status", "store"]
    assert offered("commonplace", "review", "--ru") == ["--runner"]
    assert offered("commonplace-review-sweep", "--ru") == ["--runner"]
    assert offered("commonplace", "review", "--runner", "st") == ["stand-in"]
    assert "clarity/undefined-abbreviation" in offered("commonplace", "status", "clar")
    assert offered("commonplace", "review", "--db", "x") == ["FILES"]


def test_zsh_script_is_valid(tmp_path: Path) -> None:
    if shutil.which("zsh") is None:
        pytest.skip("zsh is not installed")
    zsh = script("zsh", tmp_path)
    done = subprocess.run(["zsh", "-n", str(zsh)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert zsh.read_text().startswith("#compdef commonplace ")


def test_an_unknown_shell_is_refused(tmp_path: Path) -> None:
    done = run_script("commonplace", ["completion", "fish"], cwd=tmp_path)
    assert done.returncode == 2
    assert "invalid choice: 'fish'" in done.stderr
