"""Installing compiled rule sets atomically: immutable tries in slots, double-buffered interfaces.

Each rule set (an interface's groups, or an ACL) is an LPM trie and a hash (for classes with
many prefixes of few lengths), in one slot of the maps of maps `set_rules` and `set_hash`, plus
its class table in `set_info`; none is modified once published. Which slots an interface uses
lives in `iface_cfg` / `iface_cfg_big` (plain maps the verifier inlines), in two halves selected
by `cur_gen`, which a packet reads once; the instances' own addresses (anti-spoofing) are in
`iface_addrs`, stamped with their attachment's epoch. Installing a new state:

1. create and fill fresh maps for the sets that changed (a failure closes them: nothing
   changed); sets whose inputs are unchanged keep their slot;
2. publish the fresh maps in free slots, with their class tables and overflow entries (keyed
   by slot), and write the idle half of the interface settings: no packet reads any of these yet;
3. flip `cur_gen`: packets starting now see the new state;
4. barrier: an update of the map of maps returns only after an RCU grace period (the kernel's
   maybe_wait_bpf_programs), so afterwards no packet runs on the old state; only then are the
   slots of replaced sets emptied and the old half free for the next install.
A packet is judged by one state from start to end; nothing it can read is ever modified.
"""

from __future__ import annotations

import ipaddress
import os
import struct
from dataclasses import dataclass
from typing import Final

from thecloud.core.errors import CapacityError
from thecloud.dataplane.bpf import syscall
from thecloud.dataplane.bpf._compile import (
    KEY_SIZE,
    OVERFLOW_VALUE_SIZE,
    VALUE_SIZE,
    CompiledRules,
)
from thecloud.dataplane.bpf.compiler import Plan, SetName, SetSource

IFACE: Final = struct.Struct("<IIII")
"""struct fw_iface: sg_set slot, acl_set slot, flags, attachment epoch."""
IFACE_HAS_ACL: Final = 1
IFACE_ATTACHED: Final = 2
IFACE_CHECK_SOURCE: Final = 4
IFACE_ADDR: Final = struct.Struct("<IB3x16s")
"""struct fw_iface_addr: ifindex, family (4 or 6), the address zero-padded to 16 bytes."""
IFACE_ADDRS_MAX: Final = 65536
IFACE_DIRECT: Final = 65536
"""Interfaces below this ifindex sit in an array (FW_IFACE_DIRECT), the others in a hash."""
IFACE_BIG_MAX: Final = 4096
MAX_SETS: Final = 8192
"""FW_MAX_SETS; the last slot holds a tiny trie used only as the barrier's no-op update."""
BARRIER_SLOT: Final = MAX_SETS - 1
_PAIR: Final = struct.Struct("<II")
_U32: Final = struct.Struct("<I")


@dataclass
class PublishedSet:
    """A rule set in the kernel: its slot, trie and hash fds (-1: not created) and overflow
    keys."""

    source: SetSource
    slot: int
    trie: int = -1
    hashes: int = -1
    overflow_keys: list[bytes] | None = None


def _filled(map_type: int, keys: bytes, values: bytes, count: int, name: str) -> int:
    """A fresh rule map (trie or hash) holding these entries (flags as the program's templates:
    tries cannot be preallocated, hashes are)."""
    flags = syscall.BPF_F_NO_PREALLOC if map_type == syscall.BPF_MAP_TYPE_LPM_TRIE else 0
    fd = syscall.map_create(map_type, KEY_SIZE, VALUE_SIZE, max(count, 1), flags=flags, name=name)
    try:
        syscall.map_update_many(fd, keys, values, KEY_SIZE, VALUE_SIZE, count)
    except BaseException:
        os.close(fd)
        raise
    return fd


class RuleSets:
    """The published rule sets and interface halves of one loaded program."""

    def __init__(
        self,
        sets: tuple[int, int, int, int],
        ifaces: tuple[int, int, int],
        cur_gen: int,
        masks: int,
    ):
        """Map fds: (set_rules, set_hash, set_info, set_overflow), (iface_cfg, iface_cfg_big,
        iface_addrs), cur_gen, prefix_masks."""
        self._set_rules, self._set_hash, self._set_info, self._overflow = sets
        self._ifaces, self._big_ifaces, self._iface_addrs = ifaces
        self._addresses: dict[bytes, int] = {}  # iface_addrs as written: key -> epoch
        self._cur_gen = cur_gen
        self._gen = 0
        self._installed = False
        self._published: dict[SetName, PublishedSet] = {}
        self._free = list(range(BARRIER_SLOT - 1, -1, -1))
        self._written: tuple[set[int], set[int]] = (set(), set())
        trie = syscall.BPF_MAP_TYPE_LPM_TRIE
        self._write_prefix_masks(masks)
        self._barrier_trie = _filled(trie, b"", b"", 0, "tcfw_barrier")
        syscall.map_update(self._set_rules, _U32.pack(BARRIER_SLOT), _U32.pack(self._barrier_trie))

    @staticmethod
    def _write_prefix_masks(fd: int) -> None:
        """prefix_masks[n] = n leading one bits over 16 bytes (the hash lookups' masks)."""
        count = 129
        keys = b"".join(_U32.pack(n) for n in range(count))
        values = b"".join((((1 << n) - 1) << (128 - n)).to_bytes(16, "big") for n in range(count))
        syscall.map_update_many(fd, keys, values, 4, 16, count)

    def sources(self) -> dict[SetName, SetSource]:
        """What each published set was compiled from (for `compile_state(previous=...)`)."""
        return {name: published.source for name, published in self._published.items()}

    def install(self, plan: Plan) -> None:
        """Makes the planned state current, atomically for every packet (see module doc)."""
        big = [i for i in plan.ifaces if i >= IFACE_DIRECT]
        if len(big) > IFACE_BIG_MAX:
            raise CapacityError(f"more than {IFACE_BIG_MAX} interfaces with ifindex >= 65536")
        if len(plan.compiled) > len(self._free):
            raise CapacityError(f"more than {MAX_SETS - 1} distinct rule sets")
        addresses = _address_entries(plan)
        if len(addresses) > IFACE_ADDRS_MAX:
            raise CapacityError(f"more than {IFACE_ADDRS_MAX} instance addresses")
        fresh = self._publish(plan)
        try:
            # Both the old and the new state's addresses are valid until the barrier.
            self._write_addresses({**self._addresses, **addresses})
            gen = self._gen ^ 1 if self._installed else self._gen
            current = {**self._published, **fresh}
            self._write_ifaces(gen, plan, current)
        except BaseException:
            self._retire(list(fresh.values()))
            self._write_addresses(self._addresses)
            raise
        syscall.map_update(self._cur_gen, _U32.pack(0), _U32.pack(gen))
        self._gen, self._installed = gen, True
        # The barrier: a no-op update of the map of maps waits out every running program.
        syscall.map_update(self._set_rules, _U32.pack(BARRIER_SLOT), _U32.pack(self._barrier_trie))
        stale = [
            p for name, p in self._published.items() if name in fresh or name not in plan.sources
        ]
        self._published = {
            name: published for name, published in current.items() if name in plan.sources
        }
        self._retire(stale)
        self._write_addresses(addresses)

    def _publish(self, plan: Plan) -> dict[SetName, PublishedSet]:
        """Fresh maps for the compiled sets, in free slots, with their overflow entries."""
        fresh: dict[SetName, PublishedSet] = {}
        try:
            for name, compiled in plan.compiled.items():
                published = PublishedSet(plan.sources[name], self._free.pop())
                fresh[name] = published
                self._fill(published, compiled)
        except BaseException:
            self._retire(list(fresh.values()))
            raise
        return fresh

    def _fill(self, published: PublishedSet, compiled: CompiledRules) -> None:
        slot = _U32.pack(published.slot)
        published.trie = _filled(
            syscall.BPF_MAP_TYPE_LPM_TRIE,
            compiled.keys,
            compiled.values,
            compiled.count,
            "tcfw_rules",
        )
        published.hashes = _filled(
            syscall.BPF_MAP_TYPE_HASH,
            compiled.hash_keys,
            compiled.hash_values,
            compiled.hash_count,
            "tcfw_hash",
        )
        published.overflow_keys = [
            _PAIR.pack(published.slot, _U32.unpack_from(compiled.overflow_keys, i * 4)[0])
            for i in range(compiled.overflow_count)
        ]
        syscall.map_update_many(
            self._overflow,
            b"".join(published.overflow_keys),
            compiled.overflow_values,
            8,
            OVERFLOW_VALUE_SIZE,
            compiled.overflow_count,
        )
        syscall.map_update(self._set_info, slot, compiled.info)
        syscall.map_update(self._set_rules, slot, _U32.pack(published.trie))
        syscall.map_update(self._set_hash, slot, _U32.pack(published.hashes))

    def _retire(self, sets: list[PublishedSet]) -> None:
        """Empties the slots of sets no packet can reach any more and frees them."""
        for published in sets:
            for key in published.overflow_keys or ():
                syscall.map_delete(self._overflow, key)
            slot = _U32.pack(published.slot)
            for outer, fd in (
                (self._set_rules, published.trie),
                (self._set_hash, published.hashes),
            ):
                if fd >= 0:
                    syscall.map_delete(outer, slot)
                    os.close(fd)
            self._free.append(published.slot)

    def _write_ifaces(self, gen: int, plan: Plan, sets: dict[SetName, PublishedSet]) -> None:
        """Writes half `gen` of the interface settings: the planned interfaces, and zeros
        (detached) for interfaces that half held before."""
        values: dict[int, bytes] = {}
        for index, iface in plan.ifaces.items():
            flags = IFACE_ATTACHED
            flags |= IFACE_HAS_ACL if iface.acl_set is not None else 0
            flags |= IFACE_CHECK_SOURCE if iface.addresses else 0
            acl_slot = sets[iface.acl_set].slot if iface.acl_set is not None else 0
            values[index] = IFACE.pack(sets[iface.sg_set].slot, acl_slot, flags, iface.epoch)
        written = self._written[gen]
        stale = written - set(values)
        written |= set(values)  # before writing: a failure half way is cleaned next time
        detached = IFACE.pack(0, 0, 0, 0)
        small = {i: v for i, v in values.items() if i < IFACE_DIRECT}
        small.update((i, detached) for i in stale if i < IFACE_DIRECT)
        if small:
            keys = b"".join(_U32.pack(gen * IFACE_DIRECT + i) for i in small)
            syscall.map_update_many(
                self._ifaces, keys, b"".join(small.values()), 4, IFACE.size, len(small)
            )
        for i, value in values.items():
            if i >= IFACE_DIRECT:
                syscall.map_update(self._big_ifaces, _PAIR.pack(gen, i), value)
        for i in stale:
            if i >= IFACE_DIRECT:
                syscall.map_delete(self._big_ifaces, _PAIR.pack(gen, i))
        written -= stale

    def _write_addresses(self, wanted: dict[bytes, int]) -> None:
        """Makes `iface_addrs` hold exactly `wanted` (key -> epoch), touching only differences."""
        for key, epoch in wanted.items():
            if self._addresses.get(key) != epoch:
                syscall.map_update(self._iface_addrs, key, _U32.pack(epoch))
                self._addresses[key] = epoch
        for key in [k for k in self._addresses if k not in wanted]:
            syscall.map_delete(self._iface_addrs, key)
            del self._addresses[key]

    def close(self) -> None:
        """Drops user space's references to the tries (the program's maps hold the rest)."""
        for published in self._published.values():
            os.close(published.trie)
            os.close(published.hashes)
        self._published.clear()
        os.close(self._barrier_trie)


def _address_entries(plan: Plan) -> dict[bytes, int]:
    """The `iface_addrs` entries of a plan: each interface's own addresses, with its epoch."""
    entries: dict[bytes, int] = {}
    for index, iface in plan.ifaces.items():
        for text in iface.addresses:
            address = ipaddress.ip_address(text)
            entries[IFACE_ADDR.pack(index, address.version, address.packed)] = iface.epoch
    return entries
