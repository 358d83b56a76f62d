"""Configuration: finding the KB root, defaults, every setting, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from commonplace.choices import Effort
from commonplace.config import CONFIG_FILE, STORE_ENV, Config, find_kb_root, load_config
from commonplace.errors import UserError
from commonplace.settings import Defaults


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def kb_with_config(tmp_path: Path, text: str) -> Path:
    root = tmp_path / "kb-root"
    write(root / CONFIG_FILE, text)
    return root


def config_error(tmp_path: Path, text: str) -> str:
    root = kb_with_config(tmp_path, text)
    with pytest.raises(UserError) as info:
        load_config(root)
    return info.value.message


# -- discovery -------------------------------------------------------------------------


def test_discovery_walks_up_to_commonplace_toml(tmp_path: Path) -> None:
    root = kb_with_config(tmp_path, "")
    deep = root / "kb" / "notes" / "sub"
    deep.mkdir(parents=True)
    found, source, raw = find_kb_root(deep)
    assert found == root
    assert source == root / CONFIG_FILE
    assert raw == {}
    config = load_config(deep)
    assert config.kb_root == root
    assert config.source == root / CONFIG_FILE


def test_discovery_finds_pyproject_with_tool_commonplace(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    write(root / "pyproject.toml", '[project]\nname = "x"\n\n[tool.commonplace]\ngates_dir = "g"\n')
    start = root / "a" / "b"
    start.mkdir(parents=True)
    config = load_config(start)
    assert config.kb_root == root
    assert config.source == root / "pyproject.toml"
    assert config.gates_dir == "g"


def test_discovery_skips_pyproject_without_tool_commonplace(tmp_path: Path) -> None:
    outer = kb_with_config(tmp_path, 'reports_dir = "out"\n')
    inner = outer / "pkg"
    write(inner / "pyproject.toml", '[project]\nname = "x"\n\n[tool.ruff]\nline-length = 90\n')
    config = load_config(inner)
    assert config.kb_root == outer
    assert config.reports_dir == "out"


def test_discovery_stops_at_git_with_defaults(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    start = root / "kb" / "notes"
    start.mkdir(parents=True)
    # A config file above the repository is not consulted: .git is nearer.
    write(tmp_path / CONFIG_FILE, 'gates_dir = "elsewhere"\n')
    config = load_config(start)
    assert config.kb_root == root
    assert config.source is None
    assert config.gates_dir == "kb/instructions/review-gates"


def test_discovery_git_file_counts_as_repository(tmp_path: Path) -> None:
    # Worktrees and submodules have a `.git` file, not a directory.
    root = tmp_path / "worktree"
    write(root / ".git", "gitdir: /somewhere/else\n")
    assert find_kb_root(root)[0] == root


def test_nearest_marker_wins(tmp_path: Path) -> None:
    outer = kb_with_config(tmp_path, 'gates_dir = "outer-gates"\n')
    inner = outer / "nested"
    write(inner / CONFIG_FILE, 'gates_dir = "inner-gates"\n')
    config = load_config(inner / ".")
    assert config.kb_root == inner
    assert config.gates_dir == "inner-gates"


def test_commonplace_toml_beats_pyproject_in_same_directory(tmp_path: Path) -> None:
    root = kb_with_config(tmp_path, 'gates_dir = "from-toml"\n')
    write(root / "pyproject.toml", '[tool.commonplace]\ngates_dir = "from-pyproject"\n')
    config = load_config(root)
    assert config.gates_dir == "from-toml"
    assert config.source == root / CONFIG_FILE


def test_no_kb_found_is_a_user_error(tmp_path: Path) -> None:
    # Only run when no ancestor of tmp_path is itself a KB marker.
    for directory in (tmp_path, *tmp_path.parents):
        if (directory / ".git").exists() or (directory / CONFIG_FILE).exists():
            pytest.skip(f"{directory} is itself marked as a KB")
    with pytest.raises(UserError) as info:
        find_kb_root(tmp_path)
    message = info.value.message
    assert "no knowledge base found" in message
    assert str(tmp_path) in message
    assert CONFIG_FILE in message and ".git" in message


def test_relative_start_is_taken_from_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = kb_with_config(tmp_path, "")
    (root / "kb").mkdir()
    monkeypatch.chdir(root)
    assert load_config(Path("kb")).kb_root == root
    assert load_config().kb_root == root


# -- defaults and every setting --------------------------------------------------------


def test_defaults(tmp_path: Path) -> None:
    root = kb_with_config(tmp_path, "")
    config = load_config(root)
    assert config.scan_roots == ("kb/notes", "kb/reference")
    assert config.recursive is True
    assert config.gates_dir == "kb/instructions/review-gates"
    assert config.reports_dir == "kb/reports"
    assert config.store == "kb/reports/review-store.sqlite"
    assert dict(config.model_aliases) == {}
    assert config.defaults == Defaults()
    assert dict(config.runners) == {}
    assert config.gates_path == root / "kb/instructions/review-gates"
    assert config.reports_path == root / "kb/reports"
    assert config.store_path() == root / "kb/reports/review-store.sqlite"


def test_every_setting(tmp_path: Path) -> None:
    root = kb_with_config(
        tmp_path,
        """
scan_roots = ["notes", "./docs/ref/", "a/../b"]
gates_dir = "gates/"
reports_dir = "out/reports"
store = "out/store.db"

[models]
opus = "claude-opus-4-6"
gpt = "gpt-5-5-xhigh"

[defaults]
model = "opus"
effort = "high"
timeout = 600
jobs = 4

[runners.claude]
binary = "/opt/bin/claude"
extra_args = ["--verbose"]

[runners.codex]
binary = "codex"
""",
    )
    config = load_config(root)
    assert config.scan_roots == ("notes", "docs/ref", "b")
    assert config.gates_dir == "gates"
    assert config.reports_dir == "out/reports"
    assert config.store == "out/store.db"
    assert dict(config.model_aliases) == {"opus": "claude-opus-4-6", "gpt": "gpt-5-5-xhigh"}
    assert config.defaults == Defaults(model="opus", effort=Effort.HIGH, timeout=600.0, jobs=4)
    assert set(config.runners) == {"claude", "codex"}
    assert dict(config.runners["claude"]) == {
        "binary": "/opt/bin/claude",
        "extra_args": ["--verbose"],
    }
    assert dict(config.runners["codex"]) == {"binary": "codex"}
    assert config.gates_path == root / "gates"
    assert config.reports_path == root / "out/reports"
    assert config.store_path() == root / "out/store.db"


def test_settings_in_pyproject(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    write(
        root / "pyproject.toml",
        '[tool.commonplace]\nscan_roots = ["n"]\n\n[tool.commonplace.models]\nfast = "m-1"\n',
    )
    config = load_config(root)
    assert config.scan_roots == ("n",)
    assert dict(config.model_aliases) == {"fast": "m-1"}


def test_absolute_path_inside_kb_becomes_relative(tmp_path: Path) -> None:
    root = tmp_path / "kb-root"
    write(root / CONFIG_FILE, f'gates_dir = "{root / "g" / "h"}"\n')
    assert load_config(root).gates_dir == "g/h"


def test_configuration_is_read_only(tmp_path: Path) -> None:
    root = kb_with_config(tmp_path, '[models]\na = "b"\n[runners.x]\ntimeout = 1\n')
    config = load_config(root)
    with pytest.raises(TypeError):
        config.model_aliases["c"] = "d"  # type: ignore[index]
    with pytest.raises(TypeError):
        config.runners["x"]["timeout"] = 2  # type: ignore[index]


# -- errors ----------------------------------------------------------------------------


def test_invalid_toml(tmp_path: Path) -> None:
    message = config_error(tmp_path, "scan_roots = [\n")
    assert "not valid TOML" in message
    assert CONFIG_FILE in message


def test_invalid_pyproject_toml(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    write(root / "pyproject.toml", "[tool.commonplace\n")
    with pytest.raises(UserError, match=r"pyproject\.toml: not valid TOML"):
        load_config(root)


def test_non_utf8_config(tmp_path: Path) -> None:
    root = tmp_path / "kb-root"
    root.mkdir()
    (root / CONFIG_FILE).write_bytes(b'gates_dir = "\xff"\n')
    with pytest.raises(UserError, match="not valid TOML"):
        load_config(root)


def test_unknown_settings_are_listed(tmp_path: Path) -> None:
    message = config_error(tmp_path, 'scan_root = ["x"]\ngate_dir = "y"\n')
    assert message == f"{CONFIG_FILE}: unknown setting(s): gate_dir, scan_root"


def test_unknown_setting_in_pyproject_names_pyproject(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    write(root / "pyproject.toml", "[tool.commonplace]\nbogus = 1\n")
    with pytest.raises(UserError, match=r"^pyproject\.toml: unknown setting\(s\): bogus$"):
        load_config(root)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('scan_roots = "kb/notes"\n', "scan_roots must be a list of paths"),
        ('recursive = "false"\n', "recursive must be true or false"),
        ("recursive = 0\n", "recursive must be true or false"),
        ("scan_roots = [1, 2]\n", "scan_roots must be a list of paths"),
        ("gates_dir = 3\n", "gates_dir must be a path"),
        ('gates_dir = "  "\n', "gates_dir must be a path"),
        ("reports_dir = []\n", "reports_dir must be a path"),
        ('store = ""\n', "store must be a path"),
        ('models = "opus"\n', "[models] must be a table"),
        ("defaults = 1\n", "[defaults] must be a table"),
        ("[models]\nopus = 4\n", "every [models] alias must map to a model name"),
        ('runners = "claude"\n', "[runners.<name>] entries must be tables"),
        ('[runners]\nclaude = "x"\n', "[runners.<name>] entries must be tables"),
    ],
)
def test_wrong_types(tmp_path: Path, text: str, expected: str) -> None:
    assert config_error(tmp_path, text) == f"{CONFIG_FILE}: {expected}"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("gates_dir", "../gates"),
        ("reports_dir", "kb/../../out"),
        ("store", "/tmp/elsewhere/store.sqlite"),
    ],
)
def test_paths_escaping_the_kb(tmp_path: Path, key: str, value: str) -> None:
    message = config_error(tmp_path, f'{key} = "{value}"\n')
    assert message == f"{CONFIG_FILE}: {key} points outside the knowledge base: {value}"


def test_scan_root_escaping_the_kb(tmp_path: Path) -> None:
    message = config_error(tmp_path, 'scan_roots = ["kb/notes", "../other"]\n')
    assert message == f"{CONFIG_FILE}: scan_roots points outside the knowledge base: ../other"


def test_symlink_escaping_the_kb(tmp_path: Path) -> None:
    root = kb_with_config(tmp_path, 'gates_dir = "link/gates"\n')
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "link").symlink_to(outside)
    with pytest.raises(UserError, match="gates_dir points outside the knowledge base"):
        load_config(root)


# -- store path precedence -------------------------------------------------------------


def test_store_path_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = kb_with_config(tmp_path, 'store = "data/configured.sqlite"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config(root)

    assert config.store_path() == root / "data/configured.sqlite"

    monkeypatch.setenv(STORE_ENV, "env/store.sqlite")
    # The environment variable is relative to the KB root, not the working directory.
    assert config.store_path() == root / "env/store.sqlite"

    # --db wins and is relative to the working directory.
    assert config.store_path("cli.sqlite") == elsewhere / "cli.sqlite"
    assert config.store_path(Path("sub/cli.sqlite")) == elsewhere / "sub/cli.sqlite"
    assert config.store_path(tmp_path / "abs.sqlite") == tmp_path / "abs.sqlite"

    monkeypatch.setenv(STORE_ENV, str(tmp_path / "abs-env.sqlite"))
    assert config.store_path() == tmp_path / "abs-env.sqlite"

    # A blank variable means unset.
    monkeypatch.setenv(STORE_ENV, "   ")
    assert config.store_path() == root / "data/configured.sqlite"


def test_config_constructed_directly_has_defaults(tmp_path: Path) -> None:
    config = Config(kb_root=tmp_path)
    assert config.store_path() == tmp_path / "kb/reports/review-store.sqlite"
    assert config.source is None


def test_written_paths_are_kept_as_written_not_resolved_through_links(tmp_path: Path) -> None:
    """A link inside the KB on `reports_dir` or `store` is not followed here:
    the path stays as written, so that writing there refuses the link."""
    root = kb_with_config(tmp_path, 'reports_dir = "out/./r"\nstore = "out/../out/s.db"\n')
    (root / "real").mkdir()
    (root / "out").symlink_to("real")
    config = load_config(root)
    assert config.reports_dir == "out/r"
    assert config.store == "out/s.db"
    assert config.store_setting() == f'store = "out/s.db" in {CONFIG_FILE}'


def test_recursive_false_is_read(tmp_path: Path) -> None:
    assert load_config(kb_with_config(tmp_path, "recursive = false\n")).recursive is False


# -- a store on a PostgreSQL server ------------------------------------------------------

SERVER = "postgresql://reviewer@db.example:5432/team"


def test_a_server_store_is_taken_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = kb_with_config(tmp_path, f'store = "{SERVER}"\nschema = "garden_kb"\n')
    config = load_config(root)
    assert config.store == SERVER and config.schema == "garden_kb"
    assert config.store_target() == SERVER
    with pytest.raises(UserError, match="on a PostgreSQL server, not a file"):
        config.store_path()
    # --db and the variable may name a server too, and still win.
    monkeypatch.setenv(STORE_ENV, "postgres://other@host/db")
    assert config.store_target() == "postgres://other@host/db"
    assert config.store_target("local.sqlite") == Path.cwd() / "local.sqlite"


def test_a_server_url_in_the_config_file_carries_no_password(tmp_path: Path) -> None:
    for url in (
        "postgresql://reviewer:s3cret@db.example/team",
        "postgresql://reviewer@db.example/team?password=s3cret",
    ):
        message = config_error(tmp_path / url[-6:], f'store = "{url}"\n')
        assert "s3cret" not in message
        assert "carries a password" in message and "PGPASSWORD" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('schema = "Garden"\n', "schema must be a lowercase name"),
        ('schema = "1st"\n', "schema must be a lowercase name"),
        ('schema = "a-b"\n', "schema must be a lowercase name"),
        ("schema = 3\n", "schema must be a name"),
        ('store = "postgresql://h:notaport/db"\n', "not a valid PostgreSQL URL"),
    ],
)
def test_bad_server_settings(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in config_error(tmp_path, text)


def test_lease_seconds(tmp_path: Path) -> None:
    assert load_config(kb_with_config(tmp_path / "a", "")).lease_seconds == 120.0
    assert load_config(kb_with_config(tmp_path / "b", "lease_seconds = 3\n")).lease_seconds == 3.0
    assert load_config(kb_with_config(tmp_path / "c", "lease_seconds = 1.5\n")).lease_seconds == 1.5


@pytest.mark.parametrize(
    "value", ["0", "-5", "0.5", "86401", "1e12", "inf", "nan", '"120"', "true", "[120]"]
)
def test_lease_seconds_out_of_bounds_or_not_a_number(tmp_path: Path, value: str) -> None:
    assert config_error(tmp_path, f"lease_seconds = {value}\n") == (
        f"{CONFIG_FILE}: lease_seconds must be a number of seconds from 1 to 86400"
    )
