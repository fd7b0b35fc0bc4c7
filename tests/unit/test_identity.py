"""Server identity: minted once into a real LMDB environment, stable across reopening."""

from __future__ import annotations

import stat
from datetime import datetime
from pathlib import Path

import lmdb
import pytest

from thecloud.core.errors import StateError
from thecloud.core.identity import STATE_ENVIRONMENT, load_or_create_identity
from thecloud.core.ids import parse_id
from thecloud.core.lmdb_env import open_environment

pytestmark = pytest.mark.unit


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_identity_is_created_once_and_stable_across_reopening(tmp_path: Path) -> None:
    first = load_or_create_identity(tmp_path / "state")
    second = load_or_create_identity(tmp_path / "state")

    assert second == first
    assert parse_id(first.server_id, "srv") == first.server_id
    assert datetime.fromisoformat(first.created_at).utcoffset() is not None


def test_separate_state_dirs_get_separate_identities(tmp_path: Path) -> None:
    one = load_or_create_identity(tmp_path / "one")
    two = load_or_create_identity(tmp_path / "two")

    assert one.server_id != two.server_id


def test_state_directories_are_private_to_the_owner(tmp_path: Path) -> None:
    state_dir = tmp_path / "nested" / "state"

    load_or_create_identity(state_dir)

    assert _mode(tmp_path / "nested") == 0o700
    assert _mode(state_dir) == 0o700
    assert _mode(state_dir / STATE_ENVIRONMENT) == 0o700
    for name in ("data.mdb", "lock.mdb"):
        assert _mode(state_dir / STATE_ENVIRONMENT / name) == 0o600


def test_existing_directories_are_not_re_permissioned(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)

    load_or_create_identity(tmp_path)

    assert _mode(tmp_path) == 0o755


def test_unreadable_stored_identity_is_a_state_error(tmp_path: Path) -> None:
    load_or_create_identity(tmp_path)
    with open_environment(tmp_path / STATE_ENVIRONMENT) as env:
        meta = env.open_db(b"meta")
        with env.begin(db=meta, write=True) as txn:
            txn.put(b"server_identity", b'{"server_id": "vol-01jd8x3m5q7k2n4p6r8t0v2w4y"}')

    with pytest.raises(StateError, match="unreadable"):
        load_or_create_identity(tmp_path)


def test_state_dir_that_is_a_file_is_a_state_error(tmp_path: Path) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("not a directory")

    with pytest.raises(StateError, match="state"):
        load_or_create_identity(blocker)


def test_corrupt_lmdb_file_is_a_state_error(tmp_path: Path) -> None:
    environment = tmp_path / STATE_ENVIRONMENT
    environment.mkdir()
    (environment / "data.mdb").write_bytes(b"\x5a" * 16384)

    with pytest.raises(StateError, match="cannot open LMDB environment"):
        load_or_create_identity(tmp_path)


def test_environment_is_opened_durable_with_room_for_named_databases(tmp_path: Path) -> None:
    with open_environment(tmp_path / "env") as env:
        flags = env.flags()
        assert env.info()["map_size"] == 1 << 30
        for index in range(16):
            env.open_db(f"db{index}".encode())
        with pytest.raises(lmdb.DbsFullError):
            env.open_db(b"one-too-many")

    assert flags["sync"]
    assert flags["metasync"]
    assert flags["subdir"]
    assert flags["lock"]
