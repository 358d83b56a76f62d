"""`commonplace init` and `--version`, through the real console scripts, in
real git repositories: the written commonplace.toml loads and names what was
found, the other commands then work, `.gitignore` is appended once, and every
refusal writes nothing."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import shutil
import tomllib
from pathlib import Path

import pytest
from helpers.cli import assert_refused
from helpers.commands import run_script
from helpers.kb import EXAMPLE_KB, REPO, commit_all, git

import commonplace
from commonplace.config import load_config

NOTE = "---\ndescription: {d}\n---\n# {d}\n\nSome text.\n"
GATE = "---\ndescription: {d}\nwatches: [body]\n---\n# {d}\n\nWARN when ...\n"
STARTER = ("claim-supported", "description-matches-body", "one-idea", "undefined-term")


def init(kb: Path, *args: str, cwd: Path | None = None) -> object:
    return run_script("commonplace", ["init", *args], cwd=cwd or kb)


def example_kb(tmp_path: Path) -> Path:
    """The example KB, committed, without its commonplace.toml."""
    kb = tmp_path / "ex"
    shutil.copytree(EXAMPLE_KB, kb)
    (kb / "commonplace.toml").unlink()
    git(kb, "init", "-q")
    commit_all(kb, "initial")
    return kb


def own_layout(tmp_path: Path) -> Path:
    """Notes in notes/ and journal/, gates in rules/<lens>/."""
    kb = tmp_path / "own"
    files = {
        "notes/compost.md": NOTE.format(d="Compost"),
        "notes/beds/raised.md": NOTE.format(d="Raised beds"),
        "journal/2024.md": NOTE.format(d="The year"),
        "rules/style/short.md": GATE.format(d="Too long"),
        "rules/style/plain.md": GATE.format(d="Jargon"),
        "README.md": "# My garden KB\n",
    }
    for key, text in files.items():
        (kb / key).parent.mkdir(parents=True, exist_ok=True)
        (kb / key).write_text(text, encoding="utf-8")
    git(kb, "init", "-q")
    commit_all(kb, "initial")
    return kb


def selector(kb: Path, *gates: str) -> list[dict[str, object]]:
    found = run_script(
        "commonplace-review-target-selector",
        [*(gates or ("--all-gates",)), "--model", "m", "--json"],
        cwd=kb,
    )
    assert found.returncode == 0, found.stderr
    return json.loads(found.stdout)  # type: ignore[no-any-return]


def pairs(found: list[dict[str, object]]) -> set[tuple[object, object]]:
    return {(p["note_path"], p["gate_id"]) for p in found if p["gate_id"] is not None}


def tree(folder: Path) -> dict[str, str]:
    """Every file under `folder` (links not followed) and a hash of its bytes."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink() and ".git" not in p.parts
    }


def test_init_in_the_default_layout_with_the_starter_lens(tmp_path: Path) -> None:
    kb = example_kb(tmp_path)
    done = init(kb, "--example-gates")
    assert done.returncode == 0, done.stderr
    assert "commonplace doctor" in done.stdout and "commonplace review" in done.stdout
    config = load_config(kb)
    assert config.source == kb / "commonplace.toml"
    assert config.scan_roots == ("kb/notes",)
    assert config.gates_dir == "kb/instructions/review-gates"
    assert config.store == "kb/reports/review-store.sqlite"
    text = (kb / "commonplace.toml").read_text()
    for key in ("scan_roots", "recursive", "gates_dir", "reports_dir", "store", "lease_seconds"):
        assert f"\n# {key}" in text or f"\n{key} =" in text, key
    gates = kb / "kb/instructions/review-gates/starter"
    assert sorted(p.stem for p in gates.glob("*.md")) == list(STARTER)
    # the lens resolves, and its gates apply to every note once committed
    resolved = run_script("commonplace-resolve-gates", ["starter", "--json"], cwd=kb)
    assert [g["gate_id"] for g in json.loads(resolved.stdout)] == [f"starter/{n}" for n in STARTER]
    assert all(g["description"] and g["watches"] for g in json.loads(resolved.stdout))
    commit_all(kb, "init")
    found = selector(kb, "starter")
    notes = {p["note_path"] for p in found}
    assert len(notes) == 5 and len(pairs(found)) == 5 * len(STARTER)
    assert {p["reason"] for p in found} == {"missing-review"}


def test_init_finds_a_layout_of_its_own(tmp_path: Path) -> None:
    kb = own_layout(tmp_path)
    done = init(kb, "--json")
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["scan_roots"] == ["journal", "notes"] and payload["gates_dir"] == "rules"
    assert (payload["notes_found"], payload["gates_found"]) == (3, 2)
    config = load_config(kb)
    assert config.scan_roots == ("journal", "notes") and config.gates_dir == "rules"
    assert config.store == "reports/review-store.sqlite"
    commit_all(kb, "init")
    assert pairs(selector(kb)) == {
        (note, gate)
        for note in ("journal/2024.md", "notes/beds/raised.md", "notes/compost.md")
        for gate in ("style/plain", "style/short")
    }
    # the starter lens goes into the gates folder found, beside the gates there
    (kb / "commonplace.toml").unlink()
    assert init(kb, "--example-gates").returncode == 0
    assert sorted(p.stem for p in (kb / "rules/starter").glob("*.md")) == list(STARTER)


def test_gitignore_is_appended_once(tmp_path: Path) -> None:
    kb = example_kb(tmp_path)
    (kb / ".gitignore").write_bytes(b"*.pyc\n/kb/reports/bundle-reviews/")  # no final newline
    assert init(kb).returncode == 0
    first = (kb / ".gitignore").read_text()
    lines = first.splitlines()
    assert lines[:2] == ["*.pyc", "/kb/reports/bundle-reviews/"]
    assert "/kb/reports/review-store.sqlite" in lines
    assert "/kb/reports/review-store.sqlite-wal" in lines and len(lines) == len(set(lines))
    # the store and artifacts are ignored by git itself
    for ignored in ("kb/reports/review-store.sqlite-shm", "kb/reports/bundle-reviews/x/p.md"):
        assert git(kb, "check-ignore", ignored).strip() == ignored
    # a second init refuses for the toml and leaves .gitignore as it is
    (kb / ".gitignore").write_text(first.replace("/kb/reports/review-store.sqlite-wal\n", ""))
    before = (kb / ".gitignore").read_bytes()
    assert_refused(init(kb), 1, mentions="already exists")
    assert (kb / ".gitignore").read_bytes() == before
    # with the toml gone, only the missing line comes back, never a duplicate
    (kb / "commonplace.toml").unlink()
    assert init(kb).returncode == 0
    again = (kb / ".gitignore").read_text().splitlines()
    assert sorted(again) == sorted(lines) and len(again) == len(set(again))
    (kb / "commonplace.toml").unlink()
    assert init(kb).returncode == 0
    assert (kb / ".gitignore").read_text().splitlines() == again


@pytest.mark.parametrize("config", ["commonplace.toml", "pyproject.toml"])
def test_an_existing_configuration_is_never_overwritten(tmp_path: Path, config: str) -> None:
    kb = example_kb(tmp_path)
    text = "[tool.commonplace]\n" if config == "pyproject.toml" else "# mine\n"
    (kb / config).write_text(text)
    before = tree(kb)
    assert_refused(init(kb, "--example-gates"), 1, mentions="wrote nothing")
    assert tree(kb) == before
    # from a subfolder too: the KB root is found as the commands find it
    assert_refused(init(kb, cwd=kb / "kb/notes"), 1)
    assert tree(kb) == before


def test_a_starter_gate_already_there_is_kept(tmp_path: Path) -> None:
    kb = own_layout(tmp_path)
    mine = kb / "rules/starter/one-idea.md"
    mine.parent.mkdir()
    mine.write_text(GATE.format(d="my own"))
    done = init(kb, "--example-gates", "--json")
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["gates_kept"] == ["rules/starter/one-idea.md"]
    written = payload["gates_written"]
    assert len([w for w in written if ".examples/" not in w]) == 3
    # every starter gate ships examples: at least one expected pass and one fail
    for name in STARTER:
        found = [(kb / "rules/starter" / f"{name}.examples").glob("*.md")]
        texts = [p.read_text(encoding="utf-8") for p in found[0]]
        assert any("expected: pass" in t for t in texts), name
        assert any("expected: fail" in t for t in texts), name
    assert mine.read_text() == GATE.format(d="my own")


@pytest.mark.parametrize("name", ["commonplace.toml", ".gitignore", "gates", "starter"])
def test_links_are_refused_and_nothing_is_written(tmp_path: Path, name: str) -> None:
    kb = example_kb(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "file").write_text("outside\n")
    gates = kb / "kb/instructions/review-gates"
    if name == "gates":  # the whole gates folder is a link
        shutil.move(gates, outside / "gates")
        gates.symlink_to(outside / "gates")
    elif name == "starter":
        (outside / "starter").mkdir()
        (gates / "starter").symlink_to(outside / "starter")
    else:
        (kb / name).symlink_to(outside / "file")
    before, before_outside = tree(kb), tree(outside)
    assert_refused(init(kb, "--example-gates"), 1, mentions="symbolic link")
    assert tree(kb) == before and tree(outside) == before_outside
    assert not (kb / "commonplace.toml").exists() or name == "commonplace.toml"


def test_a_dangling_link_at_the_config_is_refused(tmp_path: Path) -> None:
    kb = example_kb(tmp_path)
    (kb / "commonplace.toml").symlink_to(tmp_path / "nowhere.toml")
    assert_refused(init(kb), 1, mentions="symbolic link")
    assert not (tmp_path / "nowhere.toml").exists() and not (kb / ".gitignore").exists()


def test_crafted_folder_names_are_written_as_toml_that_reads_back(tmp_path: Path) -> None:
    kb = tmp_path / "kb"
    weird = 'say "hi" #[x] ü'
    for key in (f"{weird}/a.md", "line\nbreak/b.md", "notes/c.md"):
        (kb / key).parent.mkdir(parents=True, exist_ok=True)
        (kb / key).write_text(NOTE.format(d="x"))
    assert init(kb, "--root", str(kb)).returncode == 0
    # a name no pair line can carry is left out; the others read back exactly
    assert load_config(kb).scan_roots == ("notes", weird)


def test_root_is_the_git_top_level_or_the_folder_named(tmp_path: Path) -> None:
    kb = own_layout(tmp_path)
    assert init(kb, cwd=kb / "notes/beds").returncode == 0
    assert (kb / "commonplace.toml").is_file() and not (kb / "notes/beds/commonplace.toml").exists()
    assert_refused(init(kb, "--root", str(tmp_path / "missing")), 1, mentions="not a folder")
    plain = tmp_path / "plain"  # not a git repository: the working directory
    (plain / "notes").mkdir(parents=True)
    (plain / "notes/n.md").write_text(NOTE.format(d="n"))
    done = init(plain, "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["git"] is False
    assert load_config(plain).scan_roots == ("notes",)


def test_version_everywhere(tmp_path: Path) -> None:
    expected = f"commonplace-review {commonplace.__version__}"
    for script, args in (
        ("commonplace", ["--version"]),
        ("commonplace", ["init", "--version"]),
        ("commonplace-review-store", ["--version"]),
        ("commonplace-review-target-selector", ["--version"]),
    ):
        done = run_script(script, args, cwd=tmp_path)
        assert (done.returncode, done.stdout.strip()) == (0, expected), (script, done.stderr)
    # one version: the package's, which the installed metadata reads
    assert importlib.metadata.version("commonplace-review") == commonplace.__version__
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"]["attr"] == "commonplace.__version__"
