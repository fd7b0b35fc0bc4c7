"""Bad input to the volume store gets a clear error and changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from thecloud.core.errors import (
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    StateError,
)
from thecloud.dataplane.metrics import Registry
from thecloud.dataplane.volume import MAX_VOLUME_SIZE, Volume, VolumeStore

pytestmark = pytest.mark.unit

STRIPE = 16 << 10
SIZE = 4 * STRIPE


@pytest.fixture
def store(tmp_path: Path, disks: list[Path]) -> Iterator[VolumeStore]:
    with VolumeStore.open(tmp_path / "meta", disks, stripe_size=STRIPE, registry=Registry()) as s:
        yield s


@pytest.fixture
def volume(store: VolumeStore) -> Volume:
    volume = store.create("v", SIZE)
    volume.pwrite(b"a" * SIZE, 0)
    volume.flush()
    volume.pwrite(b"b" * 100, 50)  # some unflushed state, to see it is left alone too
    return volume


@pytest.mark.parametrize(
    "options",
    [
        {"k": 0},
        {"m": 0},
        {"k": -2},
        {"k": 250, "m": 10},
        {"k": 5, "m": 2},  # 7 shards, 6 domains
        {"stripe_size": 1000},
        {"stripe_size": 0},
        {"stripe_size": 1 << 30},
        {"k": "4"},
        {"write_back": -1},
    ],
)
def test_bad_geometry_is_refused_before_anything_is_created(
    tmp_path: Path, disks: list[Path], options: dict[str, object]
) -> None:
    with pytest.raises(InvalidArgumentError):
        VolumeStore.open(tmp_path / "meta", disks, **options)  # type: ignore[arg-type]
    assert not (tmp_path / "meta").exists()
    assert not any(disk.exists() for disk in disks)


@pytest.mark.parametrize(
    "domains",
    [[], "one-directory", [1, 2, 3], ["d"] * 6],
)
def test_bad_domain_lists_are_refused(tmp_path: Path, domains: object) -> None:
    with pytest.raises(InvalidArgumentError):
        VolumeStore.open(tmp_path / "meta", domains)  # type: ignore[arg-type]
    assert not (tmp_path / "meta").exists()


def test_reopening_with_other_geometry_or_domains_is_refused(
    tmp_path: Path, disks: list[Path]
) -> None:
    VolumeStore.open(tmp_path / "meta", disks, stripe_size=STRIPE).close()
    with pytest.raises(InvalidArgumentError, match="has k=4, not 3"):
        VolumeStore.open(tmp_path / "meta", disks, k=3)
    with pytest.raises(InvalidArgumentError, match="same order"):
        VolumeStore.open(tmp_path / "meta", list(reversed(disks)))
    with pytest.raises(InvalidArgumentError, match="same order"):
        VolumeStore.open(tmp_path / "meta", [*disks, tmp_path / "disk6"])
    VolumeStore.open(tmp_path / "meta", disks).close()


@pytest.mark.parametrize(
    "name", ["", "-leading-dash", ".hidden", "a/b", "x" * 129, "spa ce", "é", None, 7]
)
def test_bad_volume_names_are_refused(store: VolumeStore, name: object) -> None:
    with pytest.raises(InvalidArgumentError, match="volume names"):
        store.create(name, SIZE)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        store.open_volume(name)  # type: ignore[arg-type]
    assert store.list() == []


@pytest.mark.parametrize("size", [0, -1, 1.5, True, "10", MAX_VOLUME_SIZE + 1])
def test_bad_volume_sizes_are_refused(store: VolumeStore, size: object) -> None:
    with pytest.raises(InvalidArgumentError):
        store.create("v", size)  # type: ignore[arg-type]
    assert store.list() == []


def test_names_are_unique_and_must_exist(store: VolumeStore) -> None:
    store.create("v", SIZE)
    with pytest.raises(ConflictError):
        store.create("v", SIZE)
    with pytest.raises(NotFoundError):
        store.open_volume("w")
    with pytest.raises(NotFoundError):
        store.delete("w")
    assert [info.name for info in store.list()] == ["v"]


@pytest.mark.parametrize(
    ("offset", "length"),
    [(-1, 10), (0, -1), (SIZE, 1), (SIZE - 5, 6), (1 << 62, 1), (0.5, 1), (0, True)],
)
def test_ranges_outside_the_volume_are_refused_and_change_nothing(
    volume: Volume, offset: object, length: object
) -> None:
    dirty = volume.dirty_bytes
    expected = volume.pread(SIZE, 0)
    with pytest.raises(InvalidArgumentError):
        volume.pread(length, offset)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        volume.trim(offset, length)  # type: ignore[arg-type]
    if type(length) is int and length >= 0:
        with pytest.raises(InvalidArgumentError):
            volume.pwrite(b"z" * length, offset)  # type: ignore[arg-type]
    assert volume.dirty_bytes == dirty
    assert volume.pread(SIZE, 0) == expected


def test_non_buffers_are_refused(volume: Volume) -> None:
    with pytest.raises(InvalidArgumentError):
        volume.pwrite("text", 0)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="read-only"):
        volume.preadinto(b"immutable", 0)
    with pytest.raises(InvalidArgumentError):
        volume.pread(2 << 30, 0)


def test_edges_of_the_volume_are_fine(volume: Volume) -> None:
    assert volume.pread(0, SIZE) == b""
    assert volume.pwrite(b"", SIZE) == 0
    volume.trim(SIZE, 0)
    assert volume.pwrite(b"e", SIZE - 1) == 1
    assert volume.pread(1, SIZE - 1) == b"e"


def test_rebuilding_an_unknown_domain_is_refused(store: VolumeStore, tmp_path: Path) -> None:
    for domain in (6, -1, True, tmp_path / "elsewhere", "disk0"):
        with pytest.raises(InvalidArgumentError):
            store.rebuild(domain)  # type: ignore[arg-type]


def test_closed_handles_refuse_work(store: VolumeStore, volume: Volume) -> None:
    volume.close()
    with pytest.raises(StateError, match="closed"):
        volume.pread(1, 0)
    store.close()
    with pytest.raises(StateError, match="closed"):
        store.create("w", SIZE)
    store.close()  # closing twice is harmless
