"""BPF_PROG_TEST_RUN timing for the filter benchmark, and the two programs it is anchored to.

The anchors are loaded from raw instructions (no compiler in the loop, nothing to drift): XDP
and tc programs that only return "pass" (the floor of any program of that type), and a bare XDP
LPM lookup (parse Ethernet and IPv4, look the source address up in an LPM trie, pass on a hit,
drop on a miss): the least a CIDR filter can do.
"""

from __future__ import annotations

import ipaddress
import os
import struct
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Final

import numpy as np

from bench.stats import Stats
from thecloud.dataplane.bpf import syscall as bpf

ETH_HLEN: Final = 14
FRAME_LEN: Final = 60
PSEUDO_MAP_FD: Final = 1
HELPER_MAP_LOOKUP_ELEM: Final = 1


def udp_frame(source: str, destination: str, sport: int, dport: int) -> bytes:
    """A 60-byte Ethernet + IPv4 + UDP frame (IP checksum filled in, UDP checksum 0)."""
    total = FRAME_LEN - ETH_HLEN
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x45, 0, total, 0, 0, 64, 17, 0,
        ipaddress.IPv4Address(source).packed, ipaddress.IPv4Address(destination).packed,
    )  # fmt: skip
    words = sum(struct.unpack("!10H", header))
    while words >> 16:
        words = (words & 0xFFFF) + (words >> 16)
    header = header[:10] + struct.pack("!H", ~words & 0xFFFF) + header[12:]
    udp = struct.pack("!HHHH", sport, dport, total - 20, 0)
    ethernet = bytes.fromhex("0200000000020200000000010800")
    return (ethernet + header + udp).ljust(FRAME_LEN, b"\0")


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, src << 4 | dst, off, imm)


# The few eBPF opcodes the anchors use (linux/bpf.h: class | size/op | source).
MOV64_REG, MOV64_IMM, ADD64_IMM = 0xBF, 0xB7, 0x07
LDX_W, LDX_H, ST_W, STX_W = 0x61, 0x69, 0x62, 0x63
JGT_REG, JNE_IMM, JEQ_IMM = 0x2D, 0x55, 0x15
LD_IMM64, CALL, EXIT = 0x18, 0x85, 0x95

EMPTY_XDP: Final = _insn(MOV64_IMM, 0, imm=bpf.XDP_PASS) + _insn(EXIT)
EMPTY_TC: Final = _insn(MOV64_IMM, 0, imm=bpf.TC_ACT_OK) + _insn(EXIT)


def lpm_lookup_xdp(map_fd: int) -> bytes:
    """XDP: pass when the IPv4 source address is in the LPM trie map_fd, drop otherwise
    (non-IPv4 and short frames pass). Keys are struct {u32 prefixlen; u8 addr[4]}."""
    pass_at, drop_at = 17, 19
    code = [
        _insn(MOV64_REG, 6, 1),  # r6 = ctx
        _insn(LDX_W, 2, 6, 0),  # r2 = ctx->data
        _insn(LDX_W, 3, 6, 4),  # r3 = ctx->data_end
        _insn(MOV64_REG, 4, 2),
        _insn(ADD64_IMM, 4, imm=ETH_HLEN + 20),
        _insn(JGT_REG, 4, 3, off=pass_at - 6),  # 5: frame shorter than Ethernet + IPv4
        _insn(LDX_H, 5, 2, 12),  # r5 = h_proto (network order, read little-endian)
        _insn(JNE_IMM, 5, off=pass_at - 8, imm=0x0008),  # 7: not IPv4
        _insn(LDX_W, 5, 2, ETH_HLEN + 12),  # r5 = saddr
        _insn(ST_W, 10, off=-8, imm=32),  # key.prefixlen = 32
        _insn(STX_W, 10, 5, -4),  # key.addr = saddr
        _insn(LD_IMM64, 1, PSEUDO_MAP_FD, imm=map_fd),  # r1 = the map (two slots)
        _insn(0),
        _insn(MOV64_REG, 2, 10),
        _insn(ADD64_IMM, 2, imm=-8),  # r2 = &key
        _insn(CALL, imm=HELPER_MAP_LOOKUP_ELEM),
        _insn(JEQ_IMM, 0, off=drop_at - 17, imm=0),  # 16: miss
        _insn(MOV64_IMM, 0, imm=bpf.XDP_PASS),  # 17
        _insn(EXIT),
        _insn(MOV64_IMM, 0, imm=bpf.XDP_DROP),  # 19
        _insn(EXIT),
    ]
    return b"".join(code)


@contextmanager
def loaded(prog_type: int, insns: bytes, name: str) -> Iterator[int]:
    """A raw program's fd for the block; unloaded after."""
    fd = bpf.prog_load(prog_type, insns, name=name)
    try:
        yield fd
    finally:
        os.close(fd)


@contextmanager
def lpm_trie(cidrs: Sequence[str]) -> Iterator[int]:
    """An LPM trie holding these IPv4 prefixes (value: the index); its fd for the block."""
    fd = bpf.map_create(
        bpf.BPF_MAP_TYPE_LPM_TRIE, 8, 4, len(cidrs), flags=bpf.BPF_F_NO_PREALLOC, name="bench_lpm"
    )
    try:
        networks = [ipaddress.IPv4Network(cidr) for cidr in cidrs]
        keys = np.zeros(len(cidrs), dtype=[("prefixlen", "<u4"), ("addr", ">u4")])
        keys["prefixlen"] = [n.prefixlen for n in networks]
        keys["addr"] = [int(n.network_address) for n in networks]
        values = np.arange(len(cidrs), dtype="<u4")
        bpf.map_update_many(fd, keys.tobytes(), values.tobytes(), 8, 4, len(cidrs))
        yield fd
    finally:
        os.close(fd)


def ns_per_packet(
    prog_fd: int,
    frame: bytes,
    *,
    repeat: int,
    runs: int,
    expect: int,
    ctx: bytes | None = None,
) -> Stats:
    """Kernel-measured ns per run of prog_fd over frame, `runs` times `repeat` runs.

    Every run's verdict must be `expect`: a number for the wrong path would be meaningless.
    """
    samples = []
    bpf.prog_test_run(prog_fd, frame, repeat=min(repeat, 1000), ctx=ctx)  # warm caches
    for _ in range(runs):
        result = bpf.prog_test_run(prog_fd, frame, repeat=repeat, ctx=ctx)
        if result.retval != expect:
            raise RuntimeError(f"test run returned {result.retval}, expected {expect}")
        samples.append(float(result.duration_ns))
    return Stats.of(samples)
