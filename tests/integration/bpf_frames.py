"""Crafted Ethernet frames for BPF_PROG_TEST_RUN tests, built with struct (no scapy)."""

from __future__ import annotations

import ipaddress
import struct

ETH_IP = 0x0800
ETH_IP6 = 0x86DD
ETH_VLAN = 0x8100
ETH_QINQ = 0x88A8
ETH_ARP = 0x0806


def eth(payload: bytes, ethertype: int = ETH_IP, vlans: tuple[int, ...] = ()) -> bytes:
    """An Ethernet frame; `vlans` are tag ethertypes (0x8100 / 0x88a8), outermost first."""
    head = b"\x02\x00\x00\x00\x00\x01" + b"\x02\x00\x00\x00\x00\x02"
    types = [*vlans, ethertype]
    tags = b""  # per tag: its TPID, then its TCI (VLAN id 100, 101...)
    for i in range(len(vlans)):
        tags += struct.pack("!H", types[i]) + struct.pack("!H", 100 + i)
    return head + tags + struct.pack("!H", types[-1]) + payload


def ipv4(
    src: str,
    dst: str,
    proto: int,
    payload: bytes,
    *,
    options: bytes = b"",
    frag_offset: int = 0,
    more_fragments: bool = False,
) -> bytes:
    """An IPv4 packet; `options` must be a multiple of 4 bytes (it raises ihl)."""
    assert len(options) % 4 == 0
    ihl = 5 + len(options) // 4
    flags = (0x2000 if more_fragments else 0) | (frag_offset // 8)
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x40 | ihl,
        0,
        ihl * 4 + len(payload),
        1,
        flags,
        64,
        proto,
        0,
        ipaddress.IPv4Address(src).packed,
        ipaddress.IPv4Address(dst).packed,
    )
    return header + options + payload


def ipv6(src: str, dst: str, next_header: int, payload: bytes) -> bytes:
    """An IPv6 packet (extension headers go in payload, with their next_header chain)."""
    return (
        struct.pack("!IHBB", 6 << 28, len(payload), next_header, 64)
        + ipaddress.IPv6Address(src).packed
        + ipaddress.IPv6Address(dst).packed
        + payload
    )


def hop_by_hop(next_header: int) -> bytes:
    """An 8-byte hop-by-hop options header (PadN)."""
    return struct.pack("!BBBB", next_header, 0, 1, 4) + b"\0" * 4


def fragment6(next_header: int, offset: int, more: bool) -> bytes:
    """An IPv6 fragment header."""
    return struct.pack("!BBHI", next_header, 0, (offset & ~7) | int(more), 0x1234)


def tcp(sport: int, dport: int, flags: int = 0x02) -> bytes:
    """A 20-byte TCP header (default flags: SYN)."""
    return struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 5 << 4, flags, 65535, 0, 0)


def udp(sport: int, dport: int, body: bytes = b"\0" * 18) -> bytes:
    """A UDP datagram."""
    return struct.pack("!HHHH", sport, dport, 8 + len(body), 0) + body


def icmp_echo(ident: int = 7, icmp_type: int = 8) -> bytes:
    """An ICMP (or with type 128 ICMPv6) echo request."""
    return struct.pack("!BBHHH", icmp_type, 0, 0, ident, 1) + b"\0" * 16


def icmp_error(icmp_type: int, code: int, quoted: bytes) -> bytes:
    """An ICMP (or ICMPv6) error quoting the start of an earlier packet."""
    return struct.pack("!BBHI", icmp_type, code, 0, 0) + quoted


def arp() -> bytes:
    """An ARP request body."""
    return struct.pack("!HHBBH", 1, ETH_IP, 6, 4, 1) + b"\0" * 20
