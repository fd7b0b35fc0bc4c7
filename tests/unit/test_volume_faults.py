"""Lost domains, bitrot, rebuilds and failing writes: reads stay correct, damage gets repaired."""

from __future__ import annotations

import itertools
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from typing_extensions import Buffer

from thecloud.core.errors import InvalidArgumentError, StateError
from thecloud.dataplane.ec import crc32c
from thecloud.dataplane.metrics import Registry
from thecloud.dataplane.volume import (
    BackgroundScrubber,
    DirectoryDomain,
    RebuildProgress,
    ScrubReport,
    ShardKey,
    StripeLostError,
    Volume,
    VolumeStore,
)
from thecloud.dataplane.volume.catalog import Catalog

pytestmark = pytest.mark.unit

STRIPE = 16 << 10
STRIPES = 10
SIZE = STRIPE * STRIPES


@pytest.fixture
def store(tmp_path: Path, disks: list[Path], registry: Registry) -> Iterator[VolumeStore]:
    with VolumeStore.open(tmp_path / "meta", disks, stripe_size=STRIPE, registry=registry) as s:
        yield s


@pytest.fixture
def content() -> bytes:
    return os.urandom(SIZE)


@pytest.fixture
def volume(store: VolumeStore, content: bytes) -> Volume:
    volume = store.create("data", SIZE)
    volume.pwrite(content, 0)
    volume.flush()
    return volume


def wipe(disk: Path) -> None:
    """What a failed disk looks like: the mount point is there, the files are not."""
    for entry in disk.iterdir():
        shutil.rmtree(entry)


def blob_files(disk: Path) -> dict[ShardKey, Path]:
    domain = DirectoryDomain(disk)
    return {key: domain.path(key) for key in domain.list_blobs()}


def sample(registry: Registry, name: str, **labels: str) -> float:
    text = registry.render().decode()
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return float(s.value)
    raise AssertionError(f"no sample {name}{labels}")


@pytest.mark.parametrize("lost", list(itertools.combinations(range(6), 2)))
def test_reads_survive_any_two_lost_domains(
    disks: list[Path], volume: Volume, content: bytes, lost: tuple[int, int]
) -> None:
    for index in lost:
        wipe(disks[index])
    assert volume.pread(SIZE, 0) == content
    assert volume.pread(100, STRIPE * 3 + 5) == content[STRIPE * 3 + 5 : STRIPE * 3 + 105]


def test_wiped_domains_are_reconstructed_then_repaired_by_scrub(
    store: VolumeStore, disks: list[Path], volume: Volume, content: bytes, registry: Registry
) -> None:
    wipe(disks[1])
    wipe(disks[4])
    assert volume.pread(SIZE, 0) == content
    assert sample(registry, "thecloud_volume_degraded_reads_total") > 0

    report = store.scrub()
    assert report.stripes_checked == STRIPES
    assert {p.domain for p in report.problems} == {str(disks[1]), str(disks[4])}
    assert {p.kind for p in report.problems} == {"missing"}
    assert report.repaired == len(report.problems) == 2 * STRIPES
    assert report.healthy
    assert len(blob_files(disks[1])) == len(blob_files(disks[4])) == STRIPES
    assert not store.scrub().problems


def test_background_scrubber_repairs_bitrot_without_being_asked(
    store: VolumeStore, disks: list[Path], volume: Volume, content: bytes
) -> None:
    files = blob_files(disks[3])
    key = sorted(files)[0]
    files[key].write_bytes(b"rotten")
    reports: list[ScrubReport] = []
    with BackgroundScrubber(store, interval=0.05, on_report=reports.append) as scrubber:
        deadline = time.monotonic() + 10
        while not any(r.repaired for r in reports) and time.monotonic() < deadline:
            time.sleep(0.02)
    assert scrubber.last_error is None
    repaired = [p for r in reports for p in r.problems if p.repaired]
    assert [(p.stripe, p.shard, p.kind) for p in repaired] == [(key.stripe, key.shard, "corrupt")]
    assert files[key].read_bytes() != b"rotten"
    assert volume.pread(SIZE, 0) == content
    with pytest.raises(InvalidArgumentError, match="positive"):
        BackgroundScrubber(store, interval=0)


def test_more_lost_domains_than_parity_fails_loudly(disks: list[Path], volume: Volume) -> None:
    for disk in disks[:3]:
        wipe(disk)
    with pytest.raises(StripeLostError):
        volume.pread(SIZE, 0)


def test_writes_after_losing_domains_land_on_them_again(
    store: VolumeStore, disks: list[Path], volume: Volume, content: bytes
) -> None:
    wipe(disks[0])
    wipe(disks[5])
    volume.pwrite(b"fresh" * 100, 123)
    volume.flush()
    expected = content[:123] + b"fresh" * 100 + content[623:STRIPE]
    # Stripe 0 is whole again: it survives two more lost domains.
    for disk in disks[1:3]:
        wipe(disk)
    assert volume.pread(STRIPE, 0) == expected


def test_bitrot_is_detected_on_read_reported_and_repaired_by_scrub(
    store: VolumeStore, disks: list[Path], volume: Volume, content: bytes, registry: Registry
) -> None:
    files = blob_files(disks[2])
    data_key = next(key for key in sorted(files) if key.shard < 4)
    parity_key = next(key for key in sorted(files) if key.shard >= 4)
    original = files[data_key].read_bytes()
    with files[data_key].open("r+b") as blob:
        blob.seek(100)
        blob.write(bytes([original[100] ^ 0x40]))
    with files[parity_key].open("r+b") as blob:
        blob.truncate(10)

    assert volume.pread(SIZE, 0) == content
    assert sample(registry, "thecloud_volume_shard_faults_total", kind="corrupt") >= 1

    report = store.scrub()
    found = {(p.stripe, p.shard, p.kind, p.repaired) for p in report.problems}
    assert found == {
        (data_key.stripe, data_key.shard, "corrupt", True),
        (parity_key.stripe, parity_key.shard, "corrupt", True),
    }
    assert all(p.volume == "data" and p.domain == str(disks[2]) for p in report.problems)
    assert files[data_key].read_bytes() == original
    assert not store.scrub().problems
    assert sample(registry, "thecloud_volume_repaired_shards_total") == 2


def test_rebuild_recreates_every_shard_of_a_wiped_domain(
    tmp_path: Path, store: VolumeStore, disks: list[Path], volume: Volume, content: bytes
) -> None:
    before = {key: path.read_bytes() for key, path in blob_files(disks[3]).items()}
    shutil.rmtree(disks[3])
    seen: list[RebuildProgress] = []

    report = store.rebuild(disks[3], seen.append)

    assert report.progress.stripes_total == report.progress.stripes_done == STRIPES
    assert report.progress.shards_rebuilt == STRIPES and not report.lost_stripes
    assert report.progress.bytes_written == STRIPES * store.layout.shard_size
    assert seen[0].stripes_done == 0 and seen[-1] == report.progress
    assert [p.stripes_done for p in seen] == sorted(p.stripes_done for p in seen)
    assert {key: path.read_bytes() for key, path in blob_files(disks[3]).items()} == before
    # The rebuilt shards are needed now: two other domains go away.
    wipe(disks[0])
    wipe(disks[1])
    assert volume.pread(SIZE, 0) == content
    assert store.rebuild(3).progress.shards_rebuilt == 0


def test_rebuilt_shards_match_their_recorded_checksums(
    tmp_path: Path, store: VolumeStore, disks: list[Path], volume: Volume
) -> None:
    wipe(disks[5])
    store.rebuild(str(disks[5]))
    store.close()
    catalog = Catalog(tmp_path / "meta", map_size=1 << 30)
    try:
        for key, path in blob_files(disks[5]).items():
            record = catalog.stripe(key.volume, key.stripe)
            assert record is not None and record.version == key.version
            assert crc32c(path.read_bytes()) == record.crcs[key.shard]
    finally:
        catalog.close()


class FlakyDomain(DirectoryDomain):
    """A directory domain whose writes or syncs fail on demand, like a dying disk."""

    fail_write = False
    fail_sync = False

    def write(self, key: ShardKey, data: Buffer) -> None:
        if self.fail_write:
            raise StateError(f"injected write failure on {self.label}")
        super().write(key, data)

    def sync(self) -> None:
        if self.fail_sync:
            super().sync()
            raise StateError(f"injected sync failure on {self.label}")
        super().sync()


@pytest.mark.parametrize("failure", ["fail_write", "fail_sync"])
def test_a_failed_flush_changes_nothing_and_can_be_retried(
    tmp_path: Path, disks: list[Path], failure: str
) -> None:
    flaky = FlakyDomain(disks[2])
    domains = [*disks[:2], flaky, *disks[3:]]
    with VolumeStore.open(tmp_path / "meta", domains, stripe_size=STRIPE, registry=Registry()) as s:
        volume = s.create("v", SIZE)
        volume.pwrite(b"old" * 1000, 0)
        volume.flush()
        committed = {i: blob_files(disk) for i, disk in enumerate(disks)}

        volume.pwrite(b"new" * 1000, 10)
        setattr(flaky, failure, True)
        with pytest.raises(StateError, match="injected"):
            volume.flush()
        assert {i: blob_files(disk) for i, disk in enumerate(disks)} == committed
        assert volume.pread(3000, 10) == b"new" * 1000
        assert volume.dirty_bytes > 0

        setattr(flaky, failure, False)
        volume.flush()
    with VolumeStore.open(tmp_path / "meta", disks, registry=Registry()) as s:
        assert s.open_volume("v").pread(3010, 0) == (b"old" * 1000)[:10] + b"new" * 1000


def test_a_write_whose_implicit_flush_fails_is_not_applied(
    tmp_path: Path, disks: list[Path]
) -> None:
    flaky = FlakyDomain(disks[4])
    domains = [*disks[:4], flaky, disks[5]]
    options = {"stripe_size": STRIPE, "write_back": STRIPE, "registry": Registry()}
    with VolumeStore.open(tmp_path / "meta", domains, **options) as s:  # type: ignore[arg-type]
        volume = s.create("v", SIZE)
        volume.pwrite(b"first", 0)  # buffered: the buffer is now full
        flaky.fail_write = True
        with pytest.raises(StateError, match="injected"):
            volume.pwrite(b"second", STRIPE)
        assert volume.pread(STRIPE + 6, 0) == b"first" + bytes(STRIPE - 5) + bytes(6)
        flaky.fail_write = False
        volume.pwrite(b"second", STRIPE)
        assert volume.pread(6, STRIPE) == b"second"


def test_a_commit_of_unknown_outcome_stops_the_store_until_reopened(
    tmp_path: Path, disks: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = VolumeStore.open(tmp_path / "meta", disks, stripe_size=STRIPE, registry=Registry())
    volume = store.create("v", SIZE)
    volume.pwrite(b"kept" * 100, 0)
    volume.flush()

    def broken_commit(*args: object, **kwargs: object) -> None:
        raise StateError("injected: the disk went away during the commit")

    monkeypatch.setattr(Catalog, "commit", broken_commit)
    volume.pwrite(b"lost" * 100, 0)
    with pytest.raises(StateError, match="injected"):
        volume.flush()
    with pytest.raises(StateError, match="reopened"):
        volume.pread(4, 0)
    with pytest.raises(StateError, match="reopened"):
        store.create("other", SIZE)
    store.close()
    monkeypatch.undo()

    with VolumeStore.open(tmp_path / "meta", disks, registry=Registry()) as reopened:
        assert reopened.open_volume("v").pread(400, 0) == b"kept" * 100
        # The unclean open swept the blobs of the commit that never happened.
        assert sum(len(blob_files(disk)) for disk in disks) == 6
