"""The volume store API: thin provisioning, trim, naming, reopening, placement, metrics."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from thecloud.core.errors import ConflictError, NotFoundError
from thecloud.dataplane.metrics import Registry
from thecloud.dataplane.volume import DirectoryDomain, Domain, ShardKey, VolumeStore

pytestmark = pytest.mark.unit

STRIPE = 16 << 10
TIB = 1 << 40


@pytest.fixture
def store(tmp_path: Path, disks: list[Path], registry: Registry) -> Iterator[VolumeStore]:
    with VolumeStore.open(tmp_path / "meta", disks, stripe_size=STRIPE, registry=registry) as s:
        yield s


def blob_count(disks: list[Path]) -> int:
    return sum(1 for disk in disks for _ in DirectoryDomain(disk).list_blobs())


def test_a_huge_volume_costs_nothing_until_written(store: VolumeStore, disks: list[Path]) -> None:
    volume = store.create("big", TIB)
    assert volume.pread(4096, TIB // 2) == bytes(4096)
    assert volume.pread(10, TIB - 10) == bytes(10)
    volume.pwrite(b"x" * 4096, TIB // 2 + 100)
    volume.flush()
    assert store.stats().allocated_bytes == STRIPE
    assert store.stats().stored_bytes == 6 * store.layout.shard_size
    assert blob_count(disks) == 6
    assert volume.pread(4196, TIB // 2) == bytes(100) + b"x" * 4096


def test_writing_zeros_and_trimming_free_stripes(store: VolumeStore, disks: list[Path]) -> None:
    volume = store.create("v", 8 * STRIPE)
    volume.pwrite(b"\1" * (8 * STRIPE), 0)
    volume.flush()
    assert blob_count(disks) == 8 * 6

    volume.pwrite(bytes(STRIPE), 0)  # all zero: stored as nothing
    volume.trim(STRIPE + 10, 3 * STRIPE)  # frees stripes 2 and 3, zeroes parts of 1 and 4
    volume.flush()
    assert volume.allocated_stripes == 5  # stripes 1 and 4..7
    assert blob_count(disks) == 5 * 6
    expected = bytes(STRIPE) + b"\1" * 10 + bytes(3 * STRIPE) + b"\1" * (4 * STRIPE - 10)
    assert volume.pread(volume.size, 0) == expected

    volume.trim(0, volume.size)
    volume.flush()
    assert volume.allocated_stripes == 0 and blob_count(disks) == 0
    assert volume.pread(volume.size, 0) == bytes(volume.size)


def test_trim_of_a_short_last_stripe_frees_it(store: VolumeStore) -> None:
    volume = store.create("short", 2 * STRIPE + 512)
    volume.pwrite(b"y" * (STRIPE + 512), STRIPE)
    volume.flush()
    volume.trim(2 * STRIPE, 512)
    volume.flush()
    assert volume.allocated_stripes == 1


def test_volumes_are_listed_opened_once_and_deleted(store: VolumeStore, disks: list[Path]) -> None:
    first = store.create("first", 3 * STRIPE)
    store.create("second", STRIPE)
    first.pwrite(b"z" * STRIPE, 0)
    first.flush()
    assert store.open_volume("first") is first
    listed = {info.name: info for info in store.list()}
    assert set(listed) == {"first", "second"}
    assert listed["first"].allocated_bytes == STRIPE and listed["first"].size == 3 * STRIPE

    with pytest.raises(ConflictError):
        store.delete("first")
    first.close()
    store.delete("first")
    assert blob_count(disks) == 0
    with pytest.raises(NotFoundError):
        store.open_volume("first")
    again = store.create("first", 3 * STRIPE)
    assert again.pread(STRIPE, 0) == bytes(STRIPE)
    assert again.id != first.id
    assert store.stats().volumes == 2


def test_a_store_reopens_with_its_geometry_and_data(
    tmp_path: Path, disks: list[Path], registry: Registry
) -> None:
    with VolumeStore.open(tmp_path / "meta", disks, k=3, m=3, stripe_size=STRIPE) as store:
        store.create("v", 4 * STRIPE).pwrite(b"persist", 777)
    with VolumeStore.open(tmp_path / "meta", disks, registry=registry) as store:
        stats = store.stats()
        assert (stats.k, stats.m, stats.stripe_size) == (3, 3, STRIPE)
        assert store.open_volume("v").pread(7, 777) == b"persist"


def test_a_store_is_open_only_once(tmp_path: Path, store: VolumeStore, disks: list[Path]) -> None:
    with pytest.raises(ConflictError, match="already open"):
        VolumeStore.open(tmp_path / "meta", disks)


def test_more_domains_than_shards_share_the_load(tmp_path: Path) -> None:
    disks = [tmp_path / f"disk{i}" for i in range(9)]
    with VolumeStore.open(tmp_path / "meta", disks, stripe_size=STRIPE) as store:
        volume = store.create("spread", 90 * STRIPE)
        volume.pwrite(b"\7" * volume.size, 0)
    counts = [sum(1 for _ in DirectoryDomain(disk).list_blobs()) for disk in disks]
    assert sum(counts) == 90 * 6
    assert max(counts) - min(counts) <= 2


def test_any_domain_implementation_can_be_plugged_in(tmp_path: Path, disks: list[Path]) -> None:
    class Recording(DirectoryDomain):
        written: list[ShardKey]

        def write(self, key: ShardKey, data: object) -> None:
            self.written.append(key)
            super().write(key, data)  # type: ignore[arg-type]

    custom = Recording(disks[0])
    custom.written = []
    assert isinstance(custom, Domain)
    with VolumeStore.open(tmp_path / "meta", [custom, *disks[1:]], stripe_size=STRIPE) as store:
        store.create("v", STRIPE).pwrite(b"a", 0)
    assert len(custom.written) == 1


def test_scrub_removes_orphaned_blobs(store: VolumeStore, disks: list[Path]) -> None:
    volume = store.create("v", STRIPE)
    volume.pwrite(b"q" * 100, 0)
    volume.flush()
    stray = DirectoryDomain(disks[0])
    stray.write(ShardKey(volume.id, 0, 999_999, 0), b"left by a crash")
    stray.write(ShardKey(12345, 3, 1, 2), b"of a deleted volume")
    stray.sync()
    report = store.scrub()
    assert report.orphans_removed == 2 and not report.problems
    assert blob_count(disks) == 6
    assert volume.pread(100, 0) == b"q" * 100


def metric(registry: Registry, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(registry.render().decode()):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    raise AssertionError(f"no sample {name}{labels}")


def test_io_is_counted_in_the_registry(store: VolumeStore, registry: Registry) -> None:
    volume = store.create("v", 4 * STRIPE)
    volume.pwrite(b"m" * 5000, 10)
    volume.pread(2000, 0)
    volume.flush()
    assert metric(registry, "thecloud_volume_io_bytes_total", op="write") == 5000
    assert metric(registry, "thecloud_volume_io_bytes_total", op="read") == 2000
    assert metric(registry, "thecloud_volume_operations_total", op="flush") == 1
    assert metric(registry, "thecloud_volume_operation_seconds_count", op="write") == 1
