"""A volume against a bytearray model: random writes, reads, trims, flushes and reopens agree."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from thecloud.dataplane.metrics import Registry
from thecloud.dataplane.volume import Volume, VolumeStore

pytestmark = pytest.mark.unit

STRIPE = 16 << 10
SIZE = STRIPE * 12 + 1000  # a short last stripe


def open_store(tmp_path: Path, **options: int) -> VolumeStore:
    domains = [tmp_path / f"disk{i}" for i in range(7)]
    return VolumeStore.open(
        tmp_path / "meta", domains, stripe_size=STRIPE, registry=Registry(), **options
    )


def random_range(rng: random.Random, size: int) -> tuple[int, int]:
    """An (offset, length) pair biased towards the interesting cases."""
    kind = rng.random()
    if kind < 0.4:
        length = rng.randint(1, 700)
    elif kind < 0.7:
        length = rng.randint(1, 3 * STRIPE)
    elif kind < 0.85:
        length = STRIPE * rng.randint(1, 3)
    else:
        length = rng.randint(0, 64)
    length = min(length, size)
    if rng.random() < 0.3:
        offset = min(rng.randrange(0, size, STRIPE), size - length)
    else:
        offset = rng.randint(0, size - length)
    return offset, length


def allocated_in_model(model: bytearray) -> int:
    """Stripes holding a non-zero byte: exactly what a flushed thin volume stores."""
    return sum(any(model[i : i + STRIPE]) for i in range(0, len(model), STRIPE))


def check_whole(volume: Volume, model: bytearray) -> None:
    assert volume.pread(len(model), 0) == bytes(model)


@pytest.mark.parametrize("seed", range(6))
def test_random_operations_match_a_bytearray_model(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    model = bytearray(SIZE)
    # A small write-back buffer makes writes trigger implicit flushes now and then.
    store = open_store(tmp_path, write_back=4 * STRIPE)
    volume = store.create("model", SIZE)
    operations = ["write", "read", "trim", "flush", "reopen"]
    for _ in range(500):
        operation = rng.choices(operations, weights=[40, 30, 10, 8, 2])[0]
        offset, length = random_range(rng, SIZE)
        if operation == "write":
            data = bytes(length) if rng.random() < 0.1 else rng.randbytes(length)
            assert volume.pwrite(data, offset) == length
            model[offset : offset + length] = data
        elif operation == "read":
            assert volume.pread(length, offset) == bytes(model[offset : offset + length])
        elif operation == "trim":
            volume.trim(offset, length)
            model[offset : offset + length] = bytes(length)
        elif operation == "flush":
            volume.flush()
            assert volume.dirty_bytes == 0
            assert volume.allocated_stripes == allocated_in_model(model)
        else:
            store.close()
            store = open_store(tmp_path)
            volume = store.open_volume("model")
            check_whole(volume, model)
    check_whole(volume, model)
    volume.flush()
    assert volume.allocated_stripes == allocated_in_model(model)
    store.close()

    with open_store(tmp_path) as reopened:
        check_whole(reopened.open_volume("model"), model)
        report = reopened.scrub()
        assert report.healthy and not report.problems and report.orphans_removed == 0
        assert report.stripes_checked == allocated_in_model(model)


def test_unflushed_writes_are_read_back_and_flushed_by_close(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        volume = store.create("v", SIZE)
        volume.pwrite(b"x" * 5000, STRIPE - 100)
        assert volume.pread(5000, STRIPE - 100) == b"x" * 5000
        assert store.stats().dirty_bytes == 2 * STRIPE
        assert volume.allocated_stripes == 0
    with open_store(tmp_path) as store:
        volume = store.open_volume("v")
        assert volume.pread(5002, STRIPE - 101) == b"\0" + b"x" * 5000 + b"\0"
        assert volume.allocated_stripes == 2
