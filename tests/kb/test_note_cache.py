"""The note cache: a scan that takes unchanged notes from the cache finds
exactly what reading every file finds, whatever happened to the files and
whatever the cache file holds."""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import pytest
from helpers.kb import commit_all, git
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commonplace import __version__, local_cache
from commonplace.config import Config, load_config
from commonplace.errors import UserError
from commonplace.git import GitState, read_state
from commonplace.kb import note_cache
from commonplace.kb.note_cache import CachedNote
from commonplace.kb.notes import NoteScan, find_notes, note_facts

NOTE = "---\ntype: kb/types/note.md\ntraits: [title-as-claim]\nstatus: current\n---\n# T\n\nBody.\n"
# Frontmatter variants: routing changes, things JSON cannot keep, and notes
# that cannot be reviewed.
CONTENTS = (
    NOTE,
    "---\ntype: ./types/x.md\nuser-verified: true\n---\nBody two.\n",
    "---\ntype: ../types/y.md\ntraits:\n- a\n- b\nstatus: draft\n---\nBody three.\n",
    "---\ndescription: no routing at all\n---\nBody four.\n",
    "---\nstatus: 2024-01-02\ntraits: [{a: 1}, 2.5, null]\n---\nA date is not JSON.\n",
    "---\ntraits: !!set {a, b}\n---\nA set is not JSON.\n",
    "# A plain file\n\nNo frontmatter: not a note.\n",
    "---\ntype: [unclosed\n---\nInvalid YAML.\n",
    "---\n- a list\n---\nNot a mapping.\n",
    "---\ntype: x\n---\nNUL \0 byte.\n",
    "---\ntype: x\n---\nnot UTF-8 \udcff.\n",
)
KEYS = (
    "kb/notes/a.md",
    "kb/notes/b.md",
    "kb/notes/sub/c.md",
    "kb/reference/d.md",
    "kb/notes/e :: f.md",  # a name the pair grammar cannot carry
)


def _write(root: Path, key: str, text: str) -> Path:
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    return path


def _kb(root: Path) -> tuple[Config, GitState]:
    for i, key in enumerate(KEYS[:4]):
        _write(root, key, CONTENTS[i])
    git(root, "init", "-q")
    commit_all(root, "initial")
    config = load_config(root)
    return config, read_state(root, list(config.scan_roots))


def _scan(config: Config, git_state: GitState, *, cached: bool) -> NoteScan | str:
    try:
        return find_notes(config, git_state, cached=cached)
    except UserError as exc:
        return f"error: {exc.message}"


def _seen(scan: NoteScan | str) -> object:
    """Everything a scan tells the selector, the bytes of each note included."""
    if isinstance(scan, str):
        return scan
    notes = [(n.key, n.sha, n.routing_fields, note_facts(n), n.data) for n in scan.notes]
    return notes, scan.unreviewable


def _cache_file(root: Path) -> Path:
    return root / ".git" / local_cache.FOLDER / "notes.json"


def _later_than_the_scan(root: Path) -> None:
    """Wait until a change made now gets a later ctime than any file has: what
    the 2 s racy window guarantees for real, made short for the test (the
    window itself is switched off, so that fresh files are cached)."""
    newest = max(p.lstat().st_ctime_ns for p in root.rglob("*") if ".git" not in p.parts)
    probe = root / ".git" / "probe"
    while True:
        probe.write_bytes(b"x")
        if probe.lstat().st_ctime_ns > newest:
            return
        time.sleep(0.001)


@pytest.fixture
def cache_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    # Files a test has just written are younger than 2 s: count the racy
    # window as over, so that the cache is really used.
    monkeypatch.setattr(note_cache, "RACY_NS", -(10**12))


# -- property: the cached scan is the uncached scan ---------------------------------

OPS = st.lists(
    st.tuples(
        st.sampled_from(["same-size", "append", "content", "rename", "delete", "link", "mode"]),
        st.integers(0, len(KEYS) - 1),
        st.integers(0, len(CONTENTS) - 1),
    ),
    min_size=1,
    max_size=8,
)


def _apply(root: Path, op: str, key: str, content: str, other: str) -> None:
    path = root / key
    exists = path.is_file() and not path.is_symlink()
    if op == "same-size" and exists:
        # The same size and the mtime put back: only the ctime tells.
        st_before = path.lstat()
        data = bytearray(path.read_bytes())
        data[-2] = ord("X") if data[-2] != ord("X") else ord("Y")
        path.write_bytes(bytes(data))
        os.utime(path, ns=(st_before.st_atime_ns, st_before.st_mtime_ns))
    elif op == "append" and exists:
        with path.open("ab") as handle:
            handle.write(b"More.\n")
    elif op == "rename" and exists and key != other:
        (root / other).parent.mkdir(parents=True, exist_ok=True)
        if (root / other).is_symlink():
            (root / other).unlink()
        os.replace(path, root / other)
    elif op == "delete" and (exists or path.is_symlink()):
        path.unlink()
    elif op == "link" and key != other and (root / other).exists():
        if path.exists() or path.is_symlink():
            path.unlink()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(root / other)
    elif op == "mode" and exists:
        path.chmod(0o600 if path.stat().st_mode & 0o044 else 0o644)
    else:  # new content: routing edits, a note turned into a non-note and back
        if path.is_symlink():
            path.unlink()
        _write(root, key, content)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=OPS)
def test_cached_scan_sees_what_reading_every_file_sees(
    ops: list[tuple[str, int, int]], cache_everything: None
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "kb-root"
        config, state = _kb(root)
        assert _seen(_scan(config, state, cached=True)) == _seen(_scan(config, state, cached=False))
        for op, index, content in ops:
            _later_than_the_scan(root)
            key, other = KEYS[index], KEYS[(index + content) % len(KEYS)]
            _apply(root, op, key, CONTENTS[content], other)
            cached = _scan(config, state, cached=True)
            assert _seen(cached) == _seen(_scan(config, state, cached=False))
            again = _scan(config, state, cached=True)  # all hits where anything is kept
            assert _seen(again) == _seen(cached)


# -- the cache is used, and kept only when it changed -----------------------------------


def test_unchanged_notes_are_not_read_and_the_cache_is_not_rewritten(
    tmp_path: Path, cache_everything: None
) -> None:
    config, state = _kb(tmp_path / "kb")
    first = find_notes(config, state, cached=True)
    assert not any(isinstance(n, CachedNote) for n in first.notes)
    written = _cache_file(config.kb_root).stat().st_mtime_ns
    second = find_notes(config, state, cached=True)
    assert all(isinstance(n, CachedNote) for n in second.notes)
    assert [(n.key, n.sha, n.routing_fields) for n in second.notes] == [
        (n.key, n.sha, n.routing_fields) for n in first.notes
    ]
    assert second.notes == first.notes  # equal by key and blob id
    assert not any("data" in vars(n) for n in second.notes)  # nothing read
    assert _cache_file(config.kb_root).stat().st_mtime_ns == written
    # A file removed drops its entry: the cache is written again.
    (config.kb_root / KEYS[1]).unlink()
    _later_than_the_scan(config.kb_root)
    find_notes(config, state, cached=True)
    entries = local_cache.load(_cache_file(config.kb_root).parent, "notes.json", "note-scan")
    assert isinstance(entries, dict) and KEYS[1] not in entries["notes"]


def test_without_the_option_nothing_is_cached(tmp_path: Path, cache_everything: None) -> None:
    config, state = _kb(tmp_path / "kb")
    find_notes(config, state)
    assert not _cache_file(config.kb_root).exists()


def test_files_changed_within_the_racy_window_are_not_kept(tmp_path: Path) -> None:
    config, state = _kb(tmp_path / "kb")  # every file written just now
    old = time.time_ns() - 10 * 10**9
    for key in KEYS[:4]:
        os.utime(config.kb_root / key, ns=(old, old))  # an old mtime; the ctime is now
    find_notes(config, state, cached=True)
    payload = local_cache.load(_cache_file(config.kb_root).parent, "notes.json", "note-scan")
    assert payload is None or payload["notes"] == {}
    again = find_notes(config, state, cached=True)
    assert not any(isinstance(n, CachedNote) for n in again.notes)


def test_unreviewable_notes_are_never_kept(tmp_path: Path, cache_everything: None) -> None:
    config, state = _kb(tmp_path / "kb")
    _write(config.kb_root, KEYS[4], NOTE)
    _write(config.kb_root, KEYS[0], CONTENTS[7])
    first = find_notes(config, state, cached=True)
    payload = local_cache.load(_cache_file(config.kb_root).parent, "notes.json", "note-scan")
    assert isinstance(payload, dict)
    assert KEYS[0] not in payload["notes"] and KEYS[4] not in payload["notes"]
    assert [u.key for u in first.unreviewable] == sorted([KEYS[0], KEYS[4]])
    second = find_notes(config, state, cached=True)
    assert second.unreviewable == first.unreviewable == find_notes(config, state).unreviewable


def test_fields_json_cannot_keep_are_read_each_time(tmp_path: Path, cache_everything: None) -> None:
    config, state = _kb(tmp_path / "kb")
    _write(config.kb_root, KEYS[0], "---\ntraits: &a [*a]\nstatus: current\n---\nItself.\n")
    _write(config.kb_root, KEYS[1], CONTENTS[4])  # a date
    for _ in range(2):
        notes = {n.key: n for n in find_notes(config, state, cached=True).notes}
        assert not isinstance(notes[KEYS[0]], CachedNote)
        assert not isinstance(notes[KEYS[1]], CachedNote)
        assert isinstance(notes[KEYS[2]], CachedNote) or _ == 0
        assert note_facts(notes[KEYS[0]]).status == "current"
    payload = local_cache.load(_cache_file(config.kb_root).parent, "notes.json", "note-scan")
    assert isinstance(payload, dict)
    assert sorted(payload["notes"]) == sorted(KEYS[2:4])


# -- reading a cached note --------------------------------------------------------------


def test_a_note_changed_after_the_scan_is_an_error_when_read(
    tmp_path: Path, cache_everything: None
) -> None:
    config, state = _kb(tmp_path / "kb")
    find_notes(config, state, cached=True)
    notes = {n.key: n for n in find_notes(config, state, cached=True).notes}
    changed, removed, kept = (notes[k] for k in KEYS[:3])
    assert isinstance(changed, CachedNote)
    (config.kb_root / changed.key).write_text(NOTE.replace("Body", "Edit"), encoding="utf-8")
    (config.kb_root / removed.key).unlink()
    # Blob id and routing facts come from the scan, with no read.
    assert note_facts(changed).status == "current" and len(removed.sha) == 40
    message = f"{changed.key} changed while the command ran; run the command again"
    for attribute in ("data", "text", "frontmatter_block"):
        with pytest.raises(UserError) as info:
            getattr(changed, attribute)
        assert info.value.message == message
    with pytest.raises(UserError, match="changed while the command ran"):
        _ = removed.data
    assert kept.text == (config.kb_root / kept.key).read_text(encoding="utf-8")


# -- hostile and broken cache files ---------------------------------------------------


def _payload(notes: object, fields: object = ()) -> bytes:
    body = {"format": 1, "fields": list(fields) if fields != "bad" else "bad", "notes": notes}
    return json.dumps({"kind": "note-scan", "version": __version__, "payload": body}).encode()


def _identity(path: Path) -> list[int]:
    st_now = path.lstat()
    return [st_now.st_size, st_now.st_mtime_ns, st_now.st_ctime_ns, st_now.st_ino, st_now.st_dev]


def _nested(depth: int) -> object:
    return 1 if depth == 0 else [_nested(depth - 1)]


def _hostile(root: Path, kind: str) -> None:
    """Make the cache file hostile or broken in the way `kind` names."""
    target = _cache_file(root)
    target.parent.mkdir(exist_ok=True)
    ident = _identity(root / KEYS[0])
    sha = "0" * 40
    wrong = {
        "garbage": b"\xff\x00not json",
        "truncated": _payload({KEYS[0]: [*ident, sha, 0]}, [{}])[:-7],
        "not-an-object": b"[1, 2, 3]",
        "foreign-version": json.dumps(
            {"kind": "note-scan", "version": "0.0.0-other", "payload": {}}
        ).encode(),
        "foreign-kind": json.dumps({"kind": "gates", "version": __version__}).encode(),
        "foreign-format": _payload({KEYS[0]: [*ident, sha, 0]}, [{}]).replace(
            b'"format": 1', b'"format": 99'
        ),
        "notes-a-list": _payload([[*ident, sha, 0]], [{}]),
        "fields-not-a-list": _payload({KEYS[0]: [*ident, sha, 0]}, "bad"),
        "fields-not-mappings": _payload({KEYS[0]: [*ident, sha, 0]}, [[1], "x"]),
        "fields-too-deep": _payload({KEYS[0]: [*ident, sha, 0]}, [{"t": _nested(20)}]),
        "entry-a-string": _payload({KEYS[0]: "abcdefg"}),
        "entry-a-mapping": _payload({KEYS[0]: {"size": 1}}),
        "entry-too-short": _payload({KEYS[0]: ident}),
        "sha-not-hex": _payload({KEYS[0]: [*ident, "Z" * 40, 0]}, [{}]),
        "sha-a-number": _payload({KEYS[0]: [*ident, 7, 0]}, [{}]),
        "index-out-of-range": _payload({KEYS[0]: [*ident, sha, 5]}, [{}]),
        "index-negative": _payload({KEYS[0]: [*ident, sha, -1]}, [{}]),
        "index-a-string": _payload({KEYS[0]: [*ident, sha, "0"]}, [{}]),
        "index-a-bool": _payload({KEYS[0]: [*ident, sha, True]}, [{}]),
        "half-not-a-note": _payload({KEYS[0]: [*ident, None, 0]}, [{}]),
        "other-identity": _payload({KEYS[0]: [ident[0] + 1, *ident[1:], None, None]}),
        "deeply-nested": b"[" * 100_000 + b"]" * 100_000,
    }
    if kind in wrong:
        target.write_bytes(wrong[kind])
    elif kind == "huge":  # valid, saying "not a note", but larger than any cache is
        data = _payload({KEYS[0]: [*ident, None, None]})
        target.write_bytes(data + b" " * (local_cache.MAX_BYTES + 1 - len(data)))
    elif kind == "link":  # a link to what would be a valid cache saying "not a note"
        elsewhere = root.parent / "elsewhere.json"
        elsewhere.write_bytes(_payload({KEYS[0]: [*ident, None, None]}))
        target.symlink_to(elsewhere)
    elif kind == "directory":
        target.mkdir()
    elif kind == "fifo":
        os.mkfifo(target)
    elif kind == "folder-a-file":
        target.parent.rmdir()
        target.parent.write_bytes(b"not a folder")
    else:
        raise AssertionError(kind)


HOSTILE = [
    "garbage",
    "truncated",
    "not-an-object",
    "foreign-version",
    "foreign-kind",
    "foreign-format",
    "notes-a-list",
    "fields-not-a-list",
    "fields-not-mappings",
    "fields-too-deep",
    "entry-a-string",
    "entry-a-mapping",
    "entry-too-short",
    "sha-not-hex",
    "sha-a-number",
    "index-out-of-range",
    "index-negative",
    "index-a-string",
    "index-a-bool",
    "half-not-a-note",
    "other-identity",
    "deeply-nested",
    "huge",
    "link",
    "directory",
    "fifo",
    "folder-a-file",
]


@pytest.mark.parametrize("kind", HOSTILE)
def test_a_broken_or_hostile_cache_reads_as_empty(
    tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch, cache_everything: None
) -> None:
    config, state = _kb(tmp_path / "kb")
    if kind == "huge":
        monkeypatch.setattr(local_cache, "MAX_BYTES", 4096)
    _hostile(config.kb_root, kind)
    found = find_notes(config, state, cached=True)
    assert _seen(found) == _seen(find_notes(config, state))
    assert not any(isinstance(n, CachedNote) for n in found.notes)
    assert KEYS[0] in [n.key for n in found.notes]
    # The next scan is right too, whether the cache could be replaced or not.
    again = find_notes(config, state, cached=True)
    assert _seen(again) == _seen(found)
    if kind in ("link", "directory", "fifo", "folder-a-file"):
        target = _cache_file(config.kb_root)
        assert target.is_symlink() or not target.is_file()  # never written through
    if kind == "link":
        assert json.loads((tmp_path / "kb" / ".." / "elsewhere.json").read_bytes())["kind"]


def test_a_cache_that_cannot_be_written_costs_only_speed(
    tmp_path: Path, cache_everything: None
) -> None:
    config, state = _kb(tmp_path / "kb")
    git_dir = config.kb_root / ".git"
    if os.geteuid() != 0:  # root writes anywhere: a read-only folder stops no one
        git_dir.chmod(0o555)
    else:
        (git_dir / local_cache.FOLDER).write_bytes(b"")  # a file where the folder goes
    try:
        first = find_notes(config, state, cached=True)
        second = find_notes(config, state, cached=True)
    finally:
        git_dir.chmod(0o755)
    assert _seen(first) == _seen(second) == _seen(find_notes(config, state))
    assert not any(isinstance(n, CachedNote) for n in second.notes)


def test_outside_git_there_is_no_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache_everything: None
) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    root = tmp_path / "kb"
    for i, key in enumerate(KEYS[:4]):
        _write(root, key, CONTENTS[i])
    _write(root, "commonplace.toml", "")
    config = load_config(root)
    state = read_state(root, list(config.scan_roots))
    assert not state.is_repo
    scans = [find_notes(config, state, cached=True) for _ in range(2)]
    assert _seen(scans[0]) == _seen(scans[1]) == _seen(find_notes(config, state))
    assert not any(isinstance(n, CachedNote) for n in scans[1].notes)
    assert not list(tmp_path.rglob("notes*.json"))


def test_two_kbs_in_one_repository_keep_their_own_cache(
    tmp_path: Path, cache_everything: None
) -> None:
    repo = tmp_path / "repo"
    for sub in ("one", "two"):
        _write(repo / sub, "commonplace.toml", "")
        for i, key in enumerate(KEYS[:2]):
            _write(repo / sub, key, CONTENTS[i + (sub == "two")])
    git(repo, "init", "-q")
    commit_all(repo, "initial")
    seen = {}
    for _ in range(2):
        for sub in ("one", "two"):
            config = load_config(repo / sub)
            state = read_state(config.kb_root, list(config.scan_roots))
            assert state.prefix == f"{sub}/"
            seen[sub] = _seen(find_notes(config, state, cached=True))
            assert seen[sub] == _seen(find_notes(config, state))
    assert seen["one"] != seen["two"]
    assert len(list((repo / ".git" / local_cache.FOLDER).glob("notes-*.json"))) == 2
