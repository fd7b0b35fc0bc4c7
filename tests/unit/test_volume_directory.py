"""DirectoryDomain: shard blobs as files, created, synced, listed, replaced and removed."""

from __future__ import annotations

from pathlib import Path

import pytest

from thecloud.core.errors import NotFoundError
from thecloud.dataplane.volume import DirectoryDomain, Domain, ShardKey

pytestmark = pytest.mark.unit


def test_a_directory_domain_implements_the_domain_protocol(tmp_path: Path) -> None:
    domain = DirectoryDomain(tmp_path / "disk")
    assert isinstance(domain, Domain)
    assert domain.label == str(tmp_path / "disk")


def test_blobs_round_trip_through_files(tmp_path: Path) -> None:
    domain = DirectoryDomain(tmp_path / "missing" / "disk")
    key = ShardKey(volume=3, stripe=5000, version=77, shard=4)
    domain.write(key, b"shard bytes")
    domain.sync()
    out = bytearray(64)
    assert domain.read_into(key, memoryview(out)) == 11
    assert out[:11] == b"shard bytes"
    assert domain.path(key) == tmp_path / "missing" / "disk" / "v3" / "1" / "1388.4d.4"
    assert list(domain.list_blobs()) == [key]


def test_writing_an_existing_key_replaces_the_blob(tmp_path: Path) -> None:
    domain = DirectoryDomain(tmp_path)
    key = ShardKey(1, 0, 1, 0)
    domain.write(key, b"damaged")
    domain.write(key, b"repaired")
    domain.sync()
    out = bytearray(8)
    assert domain.read_into(key, memoryview(out)) == 8 and bytes(out) == b"repaired"


def test_missing_blobs_and_unrelated_files(tmp_path: Path) -> None:
    domain = DirectoryDomain(tmp_path)
    with pytest.raises(NotFoundError):
        domain.read_into(ShardKey(1, 2, 3, 4), memoryview(bytearray(4)))
    (tmp_path / "lost+found").mkdir()
    (tmp_path / "README").write_text("not a blob")
    assert list(domain.list_blobs()) == []
    domain.delete(ShardKey(1, 2, 3, 4))  # deleting what is not there is fine


def test_deleting_blobs_and_volumes(tmp_path: Path) -> None:
    domain = DirectoryDomain(tmp_path)
    keys = [ShardKey(volume, stripe, 1, 0) for volume in (1, 2) for stripe in (0, 9000)]
    for key in keys:
        domain.write(key, b"x")
    domain.delete(keys[0])
    domain.drop_volume(2)
    domain.sync()
    assert list(domain.list_blobs()) == [keys[1]]
    assert not (tmp_path / "v2").exists()
