"""Canonical keys and gate references; every path entering the system."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commonplace.errors import UserError
from commonplace.kb.paths import canonical_ref, is_canonical, key_for_path


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("---\ntype: x\n---\n", encoding="utf-8")
    return path


@pytest.fixture
def kb(tmp_path: Path) -> Path:
    root = tmp_path / "kb-root"
    touch(root / "kb/notes/a.md")
    touch(root / "kb/notes/sub/b.md")
    touch(root / "notes-at-root.md")
    return root


# -- is_canonical ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "key", ["a", "a.md", "kb/notes/a.md", "kb/notes/.hidden.md", "a b/c d.md", "é/ü.md", "a..b"]
)
def test_is_canonical_accepts(key: str) -> None:
    assert is_canonical(key)


@pytest.mark.parametrize(
    "key",
    [
        "",
        "/abs/a.md",
        "./a.md",
        "a/./b.md",
        "../a.md",
        "a/../b.md",
        "a/..",
        ".",
        "..",
        "a//b.md",
        "a/",
        "a\\b.md",
        "a\0b",
    ],
)
def test_is_canonical_refuses(key: str) -> None:
    assert not is_canonical(key)


@settings(max_examples=400)
@given(st.text(alphabet="/.a\\\0", max_size=9))
def test_is_canonical_is_a_check_of_every_part(key: str) -> None:
    """The substring checks agree with the definition: no empty, `.` or
    `..` part (so no leading, trailing or doubled `/`), no `\\` nor NUL."""
    parts_ok = all(part not in ("", ".", "..") for part in key.split("/"))
    expected = bool(key) and "\\" not in key and "\0" not in key and parts_ok
    assert is_canonical(key) == expected


# -- key_for_path ----------------------------------------------------------------------


def test_relative_from_kb_root(kb: Path) -> None:
    assert key_for_path(kb, "kb/notes/a.md", cwd=kb) == "kb/notes/a.md"
    assert key_for_path(kb, "./kb/notes/a.md", cwd=kb) == "kb/notes/a.md"
    assert key_for_path(kb, "kb//notes/./sub/../a.md", cwd=kb) == "kb/notes/a.md"


def test_relative_from_cwd(kb: Path) -> None:
    cwd = kb / "kb/notes"
    assert key_for_path(kb, "a.md", cwd=cwd) == "kb/notes/a.md"
    assert key_for_path(kb, "./sub/b.md", cwd=cwd) == "kb/notes/sub/b.md"
    assert key_for_path(kb, "../notes/a.md", cwd=cwd) == "kb/notes/a.md"
    assert key_for_path(kb, "sub", cwd=cwd) == "kb/notes/sub"


def test_kb_root_relative_from_anywhere_in_the_kb(kb: Path) -> None:
    cwd = kb / "kb/notes/sub"
    # Not present relative to cwd, so taken from the KB root.
    assert key_for_path(kb, "kb/notes/a.md", cwd=cwd) == "kb/notes/a.md"
    assert key_for_path(kb, "notes-at-root.md", cwd=cwd) == "notes-at-root.md"


def test_cwd_wins_when_the_path_exists_there(kb: Path) -> None:
    touch(kb / "kb/notes/kb/notes/a.md")
    assert key_for_path(kb, "kb/notes/a.md", cwd=kb / "kb/notes") == "kb/notes/kb/notes/a.md"


def test_relative_from_cwd_outside_the_kb(kb: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    assert key_for_path(kb, "kb/notes/a.md", cwd=outside) == "kb/notes/a.md"


def test_absolute(kb: Path, tmp_path: Path) -> None:
    assert key_for_path(kb, str(kb / "kb/notes/sub/b.md"), cwd=tmp_path) == "kb/notes/sub/b.md"
    assert key_for_path(kb, f"{kb}/kb/notes/../notes/a.md", cwd=kb) == "kb/notes/a.md"


def test_missing_files_still_canonicalize(kb: Path) -> None:
    assert key_for_path(kb, "./kb/notes/missing.md", cwd=kb) == "kb/notes/missing.md"


@pytest.mark.parametrize("raw", ["../x.md", "kb/../../x.md", "kb/notes/../../../etc/passwd"])
def test_dotdot_escaping(kb: Path, raw: str) -> None:
    with pytest.raises(UserError) as info:
        key_for_path(kb, raw, cwd=kb)
    assert info.value.message == f"{raw} is outside the knowledge base ({kb.resolve()})"


def test_dotdot_escaping_from_cwd(kb: Path) -> None:
    with pytest.raises(UserError, match="outside the knowledge base"):
        key_for_path(kb, "../../../notes-at-root.md", cwd=kb / "kb/notes")


def test_absolute_outside(kb: Path, tmp_path: Path) -> None:
    other = touch(tmp_path / "other/x.md")
    with pytest.raises(UserError, match="outside the knowledge base"):
        key_for_path(kb, str(other), cwd=kb)
    with pytest.raises(UserError, match="outside the knowledge base"):
        key_for_path(kb, "/", cwd=kb)


def test_sibling_with_common_prefix_is_outside(kb: Path, tmp_path: Path) -> None:
    sibling = touch(tmp_path / "kb-root-other/x.md")
    with pytest.raises(UserError, match="outside the knowledge base"):
        key_for_path(kb, str(sibling), cwd=kb)


def test_symlink_pointing_outside(kb: Path, tmp_path: Path) -> None:
    target = touch(tmp_path / "outside/secret.md")
    (kb / "kb/notes/link.md").symlink_to(target)
    (kb / "kb/notes/linkdir").symlink_to(target.parent)
    with pytest.raises(UserError) as info:
        key_for_path(kb, "kb/notes/link.md", cwd=kb)
    assert "kb/notes/link.md is outside the knowledge base" in info.value.message
    with pytest.raises(UserError, match="outside the knowledge base"):
        key_for_path(kb, "kb/notes/linkdir/secret.md", cwd=kb)


def test_symlink_inside_resolves_to_target(kb: Path) -> None:
    (kb / "kb/notes/alias.md").symlink_to("sub/b.md")
    assert key_for_path(kb, "kb/notes/alias.md", cwd=kb) == "kb/notes/sub/b.md"


def test_kb_root_given_through_a_symlink(kb: Path, tmp_path: Path) -> None:
    link = tmp_path / "kb-link"
    link.symlink_to(kb)
    assert key_for_path(link, "kb/notes/a.md", cwd=link) == "kb/notes/a.md"
    assert key_for_path(link, str(kb / "kb/notes/a.md"), cwd=tmp_path) == "kb/notes/a.md"
    assert key_for_path(kb, str(link / "kb/notes/a.md"), cwd=tmp_path) == "kb/notes/a.md"


@pytest.mark.parametrize("raw", ["", "a\0b.md"])
def test_not_a_path(kb: Path, raw: str) -> None:
    with pytest.raises(UserError, match="not a path"):
        key_for_path(kb, raw, cwd=kb)


def test_backslash_never_reaches_a_key(kb: Path) -> None:
    # On POSIX `\` is an ordinary file name character, but keys must never contain
    # it (is_canonical refuses it): key_for_path must refuse or produce a canonical key.
    for raw in ("kb\\notes\\a.md", "kb/notes/odd\\name.md"):
        try:
            key = key_for_path(kb, raw, cwd=kb)
        except UserError:
            continue
        assert is_canonical(key), f"{raw!r} gave non-canonical key {key!r}"


# -- key_for_path: properties ----------------------------------------------------------

_NAME = st.text(alphabet=st.sampled_from(list("abcXYZ019 _-.é")), min_size=1, max_size=8).filter(
    lambda s: s not in (".", "..")
)
_DIR = _NAME.map(lambda s: s + "_d")
_LEAF = _NAME.map(lambda s: s + ".md")
_SEP = st.sampled_from(["/", "//", "/./", "/zz_d/../", "/./zz_d/../"])


@st.composite
def _noisy(draw: st.DrawFn) -> tuple[list[str], str]:
    """Segments of a file path inside the KB, and a messy spelling of that path."""
    segments = [*draw(st.lists(_DIR, max_size=3)), draw(_LEAF)]
    raw = segments[0]
    for segment in segments[1:]:
        raw += draw(_SEP) + segment
    return segments, draw(st.sampled_from(["", "./", ".//", "./zz_d/../"])) + raw


@pytest.fixture(scope="module")
def shared_kb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("prop-kb")
    (root / "cwd_d").mkdir()
    return root


_PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_PROPS
@given(case=_noisy())
def test_noisy_paths_canonicalize(shared_kb: Path, case: tuple[list[str], str]) -> None:
    segments, raw = case
    expected = "/".join(segments)
    key = key_for_path(shared_kb, raw, cwd=shared_kb)
    assert key == expected
    assert is_canonical(key)
    assert ".." not in key.split("/")
    assert "./" not in key and "//" not in key and "\\" not in key
    assert key_for_path(shared_kb, str(shared_kb) + "/" + raw, cwd=shared_kb / "cwd_d") == key


@_PROPS
@given(case=_noisy())
def test_existing_files_round_trip(shared_kb: Path, case: tuple[list[str], str]) -> None:
    segments, raw = case
    path = touch(shared_kb.joinpath(*segments))
    # The spelling's `zz_d/..` detours must exist for the OS to walk through them.
    for depth in range(len(segments)):
        shared_kb.joinpath(*segments[:depth], "zz_d").mkdir(exist_ok=True)
    cwd = shared_kb / "cwd_d"
    for spelling, base in ((raw, shared_kb), ("../" + raw, cwd), (str(path), cwd)):
        key = key_for_path(shared_kb, spelling, cwd=base)
        assert is_canonical(key)
        assert (shared_kb / key).samefile(path)
        assert key == "/".join(segments)


@_PROPS
@given(case=_noisy(), extra=st.integers(min_value=1, max_value=3))
def test_climbing_out_is_refused(shared_kb: Path, case: tuple[list[str], str], extra: int) -> None:
    segments, raw = case
    climb = "/".join([".."] * (len(segments) + extra))
    with pytest.raises(UserError, match="outside the knowledge base"):
        key_for_path(shared_kb, f"{raw}/{climb}/x.md", cwd=shared_kb)


# -- canonical_ref ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("prose", "prose"),
        ("prose/", "prose"),
        ("./prose", "prose"),
        ("./prose/", "prose"),
        ("prose//orphan-references", "prose/orphan-references"),
        ("prose/./orphan-references", "prose/orphan-references"),
        ("prose\\orphan-references", "prose/orphan-references"),
        ("  prose/x  ", "prose/x"),
        ("../prose", None),
        ("prose/../x", None),
        ("prose/..", None),
        ("/prose", None),
        ("", None),
        (".", None),
        ("./", None),
        ("//", None),
        ("   ", None),
    ],
)
def test_canonical_ref(raw: str, expected: str | None) -> None:
    assert canonical_ref(raw) == expected


def test_canonical_ref_refuses_nul() -> None:
    # A NUL byte cannot name anything in the gates directory.
    assert canonical_ref("prose/a\0b") is None


@settings(max_examples=300, deadline=None)
@given(
    raw=st.text(
        alphabet=st.one_of(
            st.sampled_from(list("/\\. ab-_")),
            st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"),
        ),
        max_size=20,
    )
)
def test_canonical_ref_property(raw: str) -> None:
    ref = canonical_ref(raw)
    if ref is None:
        return
    assert is_canonical(ref)
    assert "\\" not in ref
    assert canonical_ref(ref) == ref
    assert ".." not in ref.split("/")
    parts = (p.strip() for p in raw.replace("\\", "/").split("/"))
    pieces = [p for p in parts if p not in ("", ".")]
    assert ref.split("/") == pieces


@settings(max_examples=200, deadline=None)
@given(
    parts=st.lists(
        st.text(alphabet=st.sampled_from(list("ab-_.")), min_size=1, max_size=5).filter(
            lambda p: p not in (".", "..")
        ),
        min_size=1,
        max_size=4,
    ),
    seps=st.lists(st.sampled_from(["/", "//", "/./", "\\", "\\.\\"]), min_size=3, max_size=3),
    lead=st.sampled_from(["", "./", ".\\", " "]),
    trail=st.sampled_from(["", "/", "\\", " "]),
)
def test_canonical_ref_of_messy_spellings(
    parts: list[str], seps: list[str], lead: str, trail: str
) -> None:
    raw = lead + parts[0]
    for index, part in enumerate(parts[1:]):
        raw += seps[index] + part
    assert canonical_ref(raw + trail) == "/".join(parts)
    assert canonical_ref(raw + "/../x") is None
