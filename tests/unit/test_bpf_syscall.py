"""The raw bpf(2) helper against the real kernel: maps, batch updates, raw loads and test runs."""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import struct
import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from thecloud.core.errors import InvalidArgumentError
from thecloud.dataplane.bpf import syscall as bpf

pytestmark = pytest.mark.integration

# r0 = XDP_PASS (BPF_ALU64 | BPF_MOV | BPF_K, dst r0); exit.
XDP_PASS_PROGRAM = struct.pack("<BBhi", 0xB7, 0, 0, 2) + struct.pack("<BBhi", 0x95, 0, 0, 0)
UDP_FRAME = bytes.fromhex(
    "ffffffffffff"
    "020000000001"
    "0800"  # Ethernet
    "4500002e00000000401100000a0000010a000002"  # IPv4, UDP, 10.0.0.1 -> 10.0.0.2
    "04d2162e001a0000"  # UDP 1234 -> 5678
) + bytes(18)


@pytest.fixture
def fds() -> Iterator[list[int]]:
    """Every fd a test opens goes here and is closed after it (unloading maps and programs)."""
    opened: list[int] = []
    yield opened
    for fd in opened:
        os.close(fd)


@pytest.fixture
def new_map(fds: list[int]) -> Callable[..., int]:
    def create(*args: int, **kwargs: object) -> int:
        fd = bpf.map_create(*args, **kwargs)  # type: ignore[arg-type]
        fds.append(fd)
        return fd

    return create


def u32(value: int) -> bytes:
    return struct.pack("<I", value)


def u64(value: int) -> bytes:
    return struct.pack("<Q", value)


def test_hash_map_update_lookup_delete(new_map: Callable[..., int]) -> None:
    fd = new_map(bpf.BPF_MAP_TYPE_HASH, 4, 8, 16, name="t_hash")
    assert bpf.map_lookup(fd, u32(7), 8) is None
    bpf.map_update(fd, u32(7), u64(70))
    assert bpf.map_lookup(fd, u32(7), 8) == u64(70)
    bpf.map_update(fd, u32(7), u64(71), bpf.BPF_EXIST)
    assert bpf.map_lookup(fd, u32(7), 8) == u64(71)
    with pytest.raises(bpf.BpfError) as exists:
        bpf.map_update(fd, u32(7), u64(72), bpf.BPF_NOEXIST)
    assert exists.value.errno == errno.EEXIST
    assert "map_update" in str(exists.value)
    assert bpf.map_delete(fd, u32(7)) is True
    assert bpf.map_delete(fd, u32(7)) is False
    assert bpf.map_lookup(fd, u32(7), 8) is None


def test_map_info_and_listing(new_map: Callable[..., int]) -> None:
    fd = new_map(bpf.BPF_MAP_TYPE_LRU_HASH, 8, 16, 32, name="t_info")
    info = bpf.obj_get_info_by_fd(fd)
    assert isinstance(info, bpf.MapInfo)
    assert (info.type, info.name, info.key_size, info.value_size, info.max_entries) == (
        bpf.BPF_MAP_TYPE_LRU_HASH,
        "t_info",
        8,
        16,
        32,
    )
    assert info.id in {m.id for m in bpf.map_ids()}


def test_wrong_sizes_are_refused_before_the_kernel(new_map: Callable[..., int]) -> None:
    fd = new_map(bpf.BPF_MAP_TYPE_HASH, 4, 8, 16, name="t_sizes")
    with pytest.raises(InvalidArgumentError, match="key of 8 bytes"):
        bpf.map_update(fd, u64(1), u64(1))
    with pytest.raises(InvalidArgumentError, match="value of 4 bytes"):
        bpf.map_update(fd, u32(1), u32(1))
    with pytest.raises(InvalidArgumentError, match="value_size 4"):
        bpf.map_lookup(fd, u32(1), 4)  # the kernel would write 8 bytes into 4
    with pytest.raises(InvalidArgumentError, match="map name"):
        bpf.map_create(bpf.BPF_MAP_TYPE_HASH, 4, 8, 16, name="has space")
    assert bpf.map_lookup(fd, u32(1), 8) is None  # nothing was written


def test_kernel_refusal_names_the_operation() -> None:
    with pytest.raises(bpf.BpfError) as refused:
        bpf.map_create(bpf.BPF_MAP_TYPE_HASH, 0, 8, 16, name="t_zero_key")
    assert refused.value.errno == errno.EINVAL
    assert refused.value.operation == "map_create t_zero_key"
    assert isinstance(refused.value, OSError)


def test_lpm_trie_100k_prefixes_in_well_under_a_second(new_map: Callable[..., int]) -> None:
    count = 100_000
    fd = new_map(bpf.BPF_MAP_TYPE_LPM_TRIE, 8, 4, count, flags=bpf.BPF_F_NO_PREALLOC, name="t_lpm")
    # Keys: prefix length (u32, host order) then the IPv4 address (network order): 10.x.y.0/24.
    keys = np.zeros(count, dtype=[("prefixlen", "<u4"), ("addr", ">u4")])
    keys["prefixlen"] = 24
    keys["addr"] = 0x0A00_0000 + (np.arange(count, dtype=np.uint32) << 8)
    values = np.arange(count, dtype="<u4")
    began = time.perf_counter()
    bpf.map_update_many(fd, keys.tobytes(), values.tobytes(), 8, 4, count)
    elapsed = time.perf_counter() - began
    assert elapsed < 1.0, f"100k LPM entries took {elapsed:.2f} s"
    # Longest-prefix match: any address inside 10.1.134.0/24 (entry 0x186) finds that entry.
    address = int(ipaddress.IPv4Address("10.1.134.77"))
    assert bpf.map_lookup(fd, struct.pack("<I", 32) + address.to_bytes(4, "big"), 4) == u32(0x186)
    outside = int(ipaddress.IPv4Address("12.0.0.1"))  # 100k /24s span 10.0.0.0-11.134.159.255
    assert bpf.map_lookup(fd, struct.pack("<I", 32) + outside.to_bytes(4, "big"), 4) is None


def test_hash_batch_update(new_map: Callable[..., int]) -> None:
    count = 10_000
    fd = new_map(bpf.BPF_MAP_TYPE_HASH, 4, 8, count, name="t_batch")
    keys = np.arange(count, dtype="<u4")
    values = np.arange(count, dtype="<u8") * 3
    bpf.map_update_many(fd, keys, values, 4, 8, count)
    assert bpf.map_lookup(fd, u32(9_999), 8) == u64(29_997)
    with pytest.raises(InvalidArgumentError, match="10000 elements need"):
        bpf.map_update_many(fd, keys, values[:-1], 4, 8, count)


def test_a_map_type_without_batch_ops_is_filled_one_by_one(new_map: Callable[..., int]) -> None:
    # Devmaps have no BPF_MAP_UPDATE_BATCH (the kernel says ENOTSUPP): the C loop takes over.
    devmap_type = 14  # BPF_MAP_TYPE_DEVMAP: values are interface indexes
    fd = new_map(devmap_type, 4, 4, 8, name="t_devmap")
    keys = np.arange(8, dtype="<u4")
    loopback = np.full(8, socket.if_nametoindex("lo"), dtype="<u4")
    bpf.map_update_many(fd, keys, loopback, 4, 4, 8)
    assert bpf.map_lookup(fd, u32(7), 4) == u32(socket.if_nametoindex("lo"))


def test_partial_update_reports_how_far_it_got(new_map: Callable[..., int]) -> None:
    fd = new_map(bpf.BPF_MAP_TYPE_ARRAY, 4, 4, 4, name="t_partial")
    keys = np.array([0, 1, 9, 2], dtype="<u4")  # index 9 is past the end of the array
    values = np.array([10, 11, 19, 12], dtype="<u4")
    with pytest.raises(bpf.BpfError, match="2 of 4 written"):
        bpf.map_update_many(fd, keys, values, 4, 4, 4)
    assert bpf.map_lookup(fd, u32(1), 4) == u32(11)


def test_sum_percpu_counters(new_map: Callable[..., int]) -> None:
    fd = new_map(bpf.BPF_MAP_TYPE_PERCPU_ARRAY, 4, 16, 8, name="t_percpu")
    ncpus = bpf.possible_cpus()
    per_cpu = [(cpu + 1, 100 * (cpu + 1)) for cpu in range(ncpus)]
    bpf.map_update(fd, u32(5), b"".join(u64(a) + u64(b) for a, b in per_cpu))
    sums = bpf.sum_percpu_u64(fd, 8, 2)
    assert len(sums) == 8
    assert sums[5] == (sum(a for a, _ in per_cpu), sum(b for _, b in per_cpu))
    assert all(entry == (0, 0) for i, entry in enumerate(sums) if i != 5)


def test_array_of_maps_takes_inner_map_fds(new_map: Callable[..., int]) -> None:
    inner = new_map(bpf.BPF_MAP_TYPE_HASH, 4, 4, 8, name="t_inner")
    outer = new_map(bpf.BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4, 2, inner_map_fd=inner, name="t_outer")
    bpf.map_update(outer, u32(1), u32(inner))  # user space writes fds, reads back map ids
    inner_id = bpf.map_info(inner).id
    assert bpf.map_lookup(outer, u32(1), 4) == u32(inner_id)


def test_raw_xdp_program_test_run(fds: list[int]) -> None:
    fd = bpf.prog_load(bpf.BPF_PROG_TYPE_XDP, XDP_PASS_PROGRAM, name="t_xdp_pass")
    fds.append(fd)
    info = bpf.prog_info(fd)
    assert (info.type, info.name) == (bpf.BPF_PROG_TYPE_XDP, "t_xdp_pass")
    assert info.id in {p.id for p in bpf.prog_ids()}
    result = bpf.prog_test_run(fd, UDP_FRAME, repeat=10_000, data_out_size=128)
    assert result.retval == bpf.XDP_PASS
    assert result.data_out == UDP_FRAME
    assert 0 < result.duration_ns < 10_000


def test_closing_the_last_fd_unloads_the_program() -> None:
    fd = bpf.prog_load(bpf.BPF_PROG_TYPE_XDP, XDP_PASS_PROGRAM, name="t_unload")
    prog_id = bpf.prog_info(fd).id
    os.close(fd)
    deadline = time.monotonic() + 2.0  # programs are freed after an RCU grace period
    while prog_id in {p.id for p in bpf.prog_ids()} and time.monotonic() < deadline:
        time.sleep(0.01)
    assert prog_id not in {p.id for p in bpf.prog_ids()}


def test_verifier_refusal_carries_the_log() -> None:
    exit_only = struct.pack("<BBhi", 0x95, 0, 0, 0)  # r0 never written
    with pytest.raises(bpf.VerifierError) as refused:
        bpf.prog_load(bpf.BPF_PROG_TYPE_XDP, exit_only, name="t_bad")
    assert refused.value.errno == errno.EACCES
    assert "R0 !read_ok" in refused.value.log
    assert "prog_load t_bad" in str(refused.value)
    with pytest.raises(InvalidArgumentError, match="8-byte instructions"):
        bpf.prog_load(bpf.BPF_PROG_TYPE_XDP, b"\x95\x00\x00")


def test_info_of_a_non_bpf_fd_is_refused(tmp_path: os.PathLike[str]) -> None:
    with (
        open(os.path.join(tmp_path, "plain"), "wb") as plain,
        pytest.raises(InvalidArgumentError, match="neither a BPF program nor a map"),
    ):
        bpf.obj_get_info_by_fd(plain.fileno())
