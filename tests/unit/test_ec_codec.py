"""The Reed-Solomon codec through its Python API: round trips, ISA-L parity, bad input."""

from __future__ import annotations

import ctypes
import threading
import time

import numpy as np
import numpy.typing as npt
import pytest

from thecloud.core.errors import InvalidArgumentError
from thecloud.dataplane.ec import (
    ReedSolomon,
    active_kernel,
    aligned,
    crc32c,
    stream_stores,
    supported_kernels,
    use_kernel,
)

pytestmark = pytest.mark.unit


def random_shards(count: int, size: int, seed: int = 0) -> list[npt.NDArray[np.uint8]]:
    rng = np.random.default_rng(seed)
    shards = [aligned(size) for _ in range(count)]
    for shard in shards:
        shard[:] = rng.integers(0, 256, size, dtype=np.uint8)
    return shards


def test_any_m_lost_shards_are_rebuilt_exactly() -> None:
    code = ReedSolomon(4, 2)
    data = random_shards(4, 10_000)
    parity = [aligned(10_000) for _ in range(2)]
    code.encode(data, parity)
    shards = [*data, *parity]
    for lost in [(0,), (5,), (0, 1), (2, 4), (4, 5), (1, 3)]:
        damaged = [None if i in lost else s for i, s in enumerate(shards)]
        rebuilt = code.reconstruct(damaged)
        assert sorted(rebuilt) == sorted(lost)
        for i in lost:
            assert bytes(rebuilt[i]) == bytes(shards[i])


def test_parity_is_byte_identical_to_isa_l() -> None:
    isal = ctypes.CDLL("libisal.so.2")  # Debian libisal2, installed by the bootstrap
    for k, m in [(4, 2), (8, 3), (10, 4)]:
        size = 8192 + 13
        data = random_shards(k, size, seed=k)
        parity = [aligned(size) for _ in range(m)]
        ReedSolomon(k, m).encode(data, parity)
        matrix = (ctypes.c_ubyte * ((k + m) * k))()
        isal.gf_gen_cauchy1_matrix(matrix, k + m, k)
        tables = (ctypes.c_ubyte * (k * m * 32))()
        isal.ec_init_tables(k, m, ctypes.byref(matrix, k * k), tables)
        theirs = [aligned(size) for _ in range(m)]
        isal.ec_encode_data(
            size,
            k,
            m,
            tables,
            (ctypes.c_void_p * k)(*[d.ctypes.data for d in data]),
            (ctypes.c_void_p * m)(*[t.ctypes.data for t in theirs]),
        )
        for ours, isa in zip(parity, theirs, strict=True):
            assert bytes(ours) == bytes(isa)


def test_stripe_encoding_matches_shard_lists() -> None:
    code = ReedSolomon(8, 3)
    size = 4096
    stripe = aligned(11 * size)
    stripe[: 8 * size] = np.concatenate(random_shards(8, size, seed=3))
    data = [stripe[i * size : (i + 1) * size].copy() for i in range(8)]
    parity = [aligned(size) for _ in range(3)]
    code.encode(data, parity)
    code.encode_stripe(stripe)
    assert bytes(stripe[8 * size :]) == b"".join(bytes(p) for p in parity)


def test_stripes_are_rebuilt_in_place() -> None:
    code = ReedSolomon(4, 2)
    size = 5000
    stripe = aligned(6 * size)
    stripe[: 4 * size] = np.concatenate(random_shards(4, size, seed=9))
    code.encode_stripe(stripe)
    original = bytes(stripe)
    for lost in [(0,), (5,), (1, 4), (0, 1), (4, 5)]:
        for index in lost:
            stripe[index * size : (index + 1) * size] = 0xEE
        code.reconstruct_stripe(stripe, lost)
        assert bytes(stripe) == original, lost
    with pytest.raises(InvalidArgumentError, match="rebuilds 1 to 2"):
        code.reconstruct_stripe(stripe, [0, 1, 2])
    with pytest.raises(InvalidArgumentError, match="rebuilds 1 to 2"):
        code.reconstruct_stripe(stripe, [6])
    with pytest.raises(InvalidArgumentError, match="writable"):
        code.reconstruct_stripe(original, [0])
    assert bytes(stripe) == original


def test_plain_python_buffers_work_without_copies() -> None:
    code = ReedSolomon(2, 1)
    parity = bytearray(3)
    code.encode([b"\x01\x02\x03", bytearray(b"\x04\x05\x06")], [memoryview(parity)])
    rebuilt = code.reconstruct([None, b"\x04\x05\x06", bytes(parity)])
    assert bytes(rebuilt[0]) == b"\x01\x02\x03"
    target = bytearray(3)
    assert code.reconstruct([None, b"\x04\x05\x06", bytes(parity)], out={0: target})[0] is target
    assert target == b"\x01\x02\x03"


def test_bad_input_is_refused_and_writes_nothing() -> None:
    with pytest.raises(InvalidArgumentError, match="k >= 1"):
        ReedSolomon(0, 2)
    with pytest.raises(InvalidArgumentError, match="k \\+ m <= 255"):
        ReedSolomon(200, 56)
    code = ReedSolomon(4, 2)
    data = random_shards(4, 100)
    parity = [bytearray(b"\xaa" * 100) for _ in range(2)]
    with pytest.raises(InvalidArgumentError, match="4 data shards"):
        code.encode(data[:3], parity)
    with pytest.raises(InvalidArgumentError, match="same size"):
        code.encode([*data[:3], aligned(99)], parity)
    with pytest.raises(InvalidArgumentError, match="read-only"):
        code.encode(data, [bytes(100), bytes(100)])
    with pytest.raises(InvalidArgumentError, match="must match"):
        code.encode(data, [bytearray(99), bytearray(99)])
    assert parity == [bytearray(b"\xaa" * 100)] * 2
    with pytest.raises(InvalidArgumentError, match="at most 2"):
        code.reconstruct([None, None, None, *data[3:], *parity])
    with pytest.raises(InvalidArgumentError, match="all 6 shards"):
        code.reconstruct(data)
    with pytest.raises(InvalidArgumentError, match="divide evenly"):
        code.encode_stripe(bytearray(601))
    with pytest.raises(InvalidArgumentError, match="writable"):
        code.encode_stripe(bytes(600))


def test_kernels_can_be_forced_and_unknown_ones_are_refused() -> None:
    assert active_kernel() in supported_kernels()
    assert "scalar" in supported_kernels()
    with use_kernel("scalar"):
        assert active_kernel() == "scalar"
    assert active_kernel() == supported_kernels()[0]
    with pytest.raises(InvalidArgumentError, match="unknown"), use_kernel("fastest"):
        pass


def test_non_temporal_stores_write_the_same_parity() -> None:
    code = ReedSolomon(8, 3)
    data = random_shards(8, 40_000, seed=5)
    regular = [aligned(40_000) for _ in range(3)]
    streamed = [aligned(40_000) for _ in range(3)]
    code.encode(data, regular)
    with stream_stores(4096):
        code.encode(data, streamed)
    assert [bytes(p) for p in streamed] == [bytes(p) for p in regular]


def test_crc32c_known_values() -> None:
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"56789", crc32c(b"1234")) == 0xE3069283
    assert crc32c(bytes(32)) == 0x8A9136AA
    big = np.arange(1 << 20, dtype=np.uint32).view(np.uint8)
    assert crc32c(big) == crc32c(big[1000:], crc32c(big[:1000]))


def test_encoding_releases_the_gil() -> None:
    code = ReedSolomon(8, 3)
    size = 4 << 20
    data = random_shards(8, size)
    parity = [aligned(size) for _ in range(3)]
    ticks = 0
    done = threading.Event()

    def encode_slowly() -> None:
        try:
            with use_kernel("scalar"):  # slow on purpose: tens of milliseconds in one C call
                code.encode(data, parity)
        finally:
            done.set()

    worker = threading.Thread(target=encode_slowly)
    started = time.perf_counter()
    worker.start()
    while not done.is_set():
        ticks += 1
    worker.join()
    elapsed = time.perf_counter() - started
    # A GIL held for the whole call would leave the main thread a few switch intervals at most.
    assert elapsed > 0.05
    assert ticks > 100_000
