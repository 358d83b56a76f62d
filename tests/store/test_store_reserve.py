"""The disk space a command sets aside beside the store, to fail its runs
when the disk fills (the full-disk test itself is in tests/reliability)."""

from __future__ import annotations

from pathlib import Path

import pytest

from commonplace.store.connection import Store
from commonplace.store.sqlite import RESERVE_BYTES

pytestmark = pytest.mark.sqlite_only("the disk reserve is a file beside the SQLite store")


def test_the_store_reserve_never_follows_a_planted_symlink(tmp_path: Path) -> None:
    store = Store(tmp_path / "store.sqlite")
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (tmp_path / "store.sqlite-reserve").symlink_to(victim)

    assert store.keep_reserve() is False
    assert victim.read_text() == "keep me"
    assert store.release_reserve() is True  # removes the link, not what it points at
    assert victim.read_text() == "keep me"
    assert store.keep_reserve() is True
    assert (tmp_path / "store.sqlite-reserve").stat().st_size == RESERVE_BYTES
    assert store.release_reserve() is True
    assert not (tmp_path / "store.sqlite-reserve").exists()


def test_the_reserve_is_given_back_a_half_at_a_time_to_failing_batches(tmp_path: Path) -> None:
    store = Store(tmp_path / "store.sqlite")
    reserve = tmp_path / "store.sqlite-reserve"
    assert store.keep_reserve() is True
    sizes = []
    while store.release_reserve(part=True):
        sizes.append(reserve.stat().st_size if reserve.exists() else 0)
    # halves while more than an eighth is left, then the rest at once
    assert sizes == [RESERVE_BYTES // 2, RESERVE_BYTES // 4, RESERVE_BYTES // 8, 0]
    assert not reserve.exists()


def test_a_part_of_the_reserve_never_follows_a_planted_symlink(tmp_path: Path) -> None:
    store = Store(tmp_path / "store.sqlite")
    victim = tmp_path / "victim.txt"
    victim.write_text("x" * 4 * RESERVE_BYTES)
    (tmp_path / "store.sqlite-reserve").symlink_to(victim)
    assert store.release_reserve(part=True) is True  # the link removed, nothing truncated
    assert victim.stat().st_size == 4 * RESERVE_BYTES
    assert not (tmp_path / "store.sqlite-reserve").is_symlink()
