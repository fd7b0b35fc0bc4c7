# cython: language_level=3, embedsignature=True
# cython: auto_pickle=False, autotestdict=False
"""The rule compiler: security-group and network-ACL rules -> packed LPM keys and values.

Layouts come from native/bpf/fw_maps.h itself (the BPF programs include the same header), so the
bytes written here are the structs the programs read.

One compiler holds one rule set (the groups of an interface, or one ACL). For every class
(kind|direction, family, protocol class) it collects the
rules' prefixes, walks them in trie pre-order (sorted by network address, then length) and gives
each prefix the port ranges decided by its own rules and by every containing prefix's rules: a
longest-prefix match then carries all rules covering the address. Port ranges become disjoint
intervals, each naming the rule that decides it (ACL: the lowest number; security groups: the
lowest rule id, all allow).

Validation happens in `add`/`check`, before anything is built: an invalid CIDR, port range,
protocol or direction raises InvalidArgumentError naming the rule.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.stdint cimport uint8_t, uint16_t, uint32_t
from libc.string cimport memcpy, memset

import heapq

from thecloud.core.errors import CapacityError, InvalidArgumentError


cdef extern from "<linux/types.h>":
    pass

cdef extern from "<arpa/inet.h>":
    int inet_pton(int af, const char *src, void *dst)

cdef extern from "<sys/socket.h>":
    int AF_INET
    int AF_INET6

cdef extern from "fw_maps.h":
    int FW_KIND_SG
    int FW_KIND_ACL
    int FW_FAMILY_V4
    int FW_FAMILY_V6
    int FW_PROTO_OTHER
    int FW_PROTO_TCP
    int FW_PROTO_UDP
    int FW_PROTO_ICMP
    int FW_PROTO_ICMPV6
    int FW_INLINE_RANGES
    int FW_OVERFLOW_RANGES
    int FW_NRANGES_OVERFLOW
    unsigned int FW_RANGE_DENY
    int FW_VAL_ALL_PORTS
    int FW_KEY_FIXED_BITS
    int FW_CLASSES
    int FW_HASH_LENS
    int FW_CLASS_TRIE

    struct fw_rule_key:
        uint32_t prefixlen
        uint8_t kind_dir
        uint8_t family
        uint8_t proto
        uint8_t pad
        uint8_t addr[16]

    struct fw_range:
        uint16_t lo
        uint16_t hi
        uint32_t rule

    struct fw_rule_val:
        uint32_t overflow_id
        uint16_t nranges
        uint16_t flags
        fw_range r[6]

    struct fw_overflow:
        uint32_t nranges
        uint32_t pad
        fw_range r[128]

    struct fw_set_info:
        uint8_t nlens[40]
        uint8_t lens[40][3]


HASH_MIN = 256
"""A class of at least this many prefixes and few lengths goes into a hash (see fw_maps.h)."""
KEY_SIZE = sizeof(fw_rule_key)
INFO_SIZE = sizeof(fw_set_info)
VALUE_SIZE = sizeof(fw_rule_val)
OVERFLOW_VALUE_SIZE = sizeof(fw_overflow)
KIND_SG = FW_KIND_SG
KIND_ACL = FW_KIND_ACL
RANGE_DENY = FW_RANGE_DENY

cdef dict _DIRECTIONS = {"ingress": 0, "egress": 1}
cdef dict _ACTIONS = {"allow": False, "deny": True}
cdef set _PROTOCOLS = {"tcp", "udp", "icmp", "icmpv6", "all"}
cdef tuple _V4_ALL = (FW_PROTO_TCP, FW_PROTO_UDP, FW_PROTO_ICMP, FW_PROTO_OTHER)
cdef tuple _V6_ALL = (FW_PROTO_TCP, FW_PROTO_UDP, FW_PROTO_ICMPV6, FW_PROTO_OTHER)
cdef object _MASK128 = (1 << 128) - 1


cdef object _bad(str owner, object index, str what):
    return InvalidArgumentError(f"{owner} rule {index}: {what}")


cdef tuple _parse_cidr(str cidr, str owner, object index):
    """(family, address as a 128-bit int with IPv4 in the top bits, prefix length)."""
    cdef uint8_t buf[16]
    cdef int family, plen, limit
    cdef str address, length
    if "/" in cidr:
        address, _, length = cidr.partition("/")
        if not length.isdigit() or not length.isascii() or len(length) > 3:
            raise _bad(owner, index, f"invalid CIDR {cidr!r}: bad prefix length")
        plen = int(length)
    else:
        address = cidr
        plen = -1
    memset(buf, 0, 16)
    encoded = address.encode("ascii", "replace")
    if ":" in address:
        family = FW_FAMILY_V6
        limit = 128
        ok = inet_pton(AF_INET6, encoded, buf)
    else:
        family = FW_FAMILY_V4
        limit = 32
        ok = inet_pton(AF_INET, encoded, buf)
    if ok != 1:
        raise _bad(owner, index, f"invalid CIDR {cidr!r}: not an IP address")
    if plen < 0:
        plen = limit
    if plen > limit:
        raise _bad(owner, index, f"invalid CIDR {cidr!r}: prefix length above {limit}")
    value = int.from_bytes(PyBytes_FromStringAndSize(<char *>buf, 16), "big")
    if value & (_MASK128 >> plen):
        raise _bad(owner, index, f"invalid CIDR {cidr!r}: host bits set")
    return family, value, plen


cdef tuple _checked_ports(object ports, str protocol, str owner, object index):
    if ports is None:
        return 0, 65535
    if protocol not in ("tcp", "udp"):
        raise _bad(owner, index, f"ports are only valid for tcp and udp, not {protocol}")
    try:
        lo, hi = ports
    except (TypeError, ValueError):
        raise _bad(owner, index, f"invalid port range {ports!r}: expected (low, high)") from None
    if type(lo) is not int or type(hi) is not int or not 0 <= lo <= hi <= 65535:
        raise _bad(owner, index, f"invalid port range {ports!r}: need 0 <= low <= high <= 65535")
    return lo, hi


cdef tuple _classes(str protocol, int family, str owner, object index):
    if protocol == "tcp":
        return (FW_PROTO_TCP,)
    if protocol == "udp":
        return (FW_PROTO_UDP,)
    if protocol == "icmp":
        if family != FW_FAMILY_V4:
            raise _bad(owner, index, "icmp rule with an IPv6 address (use icmpv6)")
        return (FW_PROTO_ICMP,)
    if protocol == "icmpv6":
        if family != FW_FAMILY_V6:
            raise _bad(owner, index, "icmpv6 rule with an IPv4 address (use icmp)")
        return (FW_PROTO_ICMPV6,)
    return _V4_ALL if family == FW_FAMILY_V4 else _V6_ALL


cdef list _segments(list items):
    """Disjoint (lo, hi, prio, word) intervals: each port goes to the lowest (prio, word)."""
    if len(items) == 1:
        return items
    items.sort()
    cdef set points = set()
    for lo, hi, _p, _w in items:
        points.add(lo)
        points.add(hi + 1)
    cdef list bounds = sorted(points)
    cdef list heap = []
    cdef list out = []
    cdef Py_ssize_t i, j = 0, n = len(items)
    for i in range(len(bounds) - 1):
        b = bounds[i]
        while j < n and items[j][0] <= b:
            lo, hi, prio, word = items[j]
            heapq.heappush(heap, (prio, word, hi))
            j += 1
        while heap and heap[0][2] < b:
            heapq.heappop(heap)
        if not heap:
            continue
        prio, word, _hi = heap[0]
        e = bounds[i + 1] - 1
        if out and out[-1][1] == b - 1 and out[-1][2] == prio and out[-1][3] == word:
            last = out[-1]
            out[-1] = (last[0], e, prio, word)
        else:
            out.append((b, e, prio, word))
    return out


cdef bint _all_ports(list segs):
    cdef int expect = 0
    for lo, hi, _p, word in segs:
        if lo != expect or (word & FW_RANGE_DENY):
            return False
        expect = hi + 1
    return expect == 65536


cdef class CompiledRules:
    """Packed trie, hash and overflow entries and the set's class table (struct fw_set_info),
    ready for `map_update_many`."""

    cdef readonly bytes keys
    cdef readonly bytes values
    cdef readonly Py_ssize_t count
    cdef readonly bytes hash_keys
    cdef readonly bytes hash_values
    cdef readonly Py_ssize_t hash_count
    cdef readonly bytes overflow_keys
    cdef readonly bytes overflow_values
    cdef readonly Py_ssize_t overflow_count
    cdef readonly bytes info

    def __cinit__(self, bytes keys, bytes values, Py_ssize_t count, bytes hash_keys,
                  bytes hash_values, Py_ssize_t hash_count, bytes overflow_keys,
                  bytes overflow_values, Py_ssize_t overflow_count, bytes info):
        self.keys = keys
        self.values = values
        self.count = count
        self.hash_keys = hash_keys
        self.hash_values = hash_values
        self.hash_count = hash_count
        self.overflow_keys = overflow_keys
        self.overflow_values = overflow_values
        self.overflow_count = overflow_count
        self.info = info


cdef class RuleCompiler:
    """Collects the validated rules of one rule set, then packs them (`build`)."""

    cdef dict classes
    cdef set owners
    cdef Py_ssize_t entries

    def __cinit__(self):
        self.classes = {}
        self.owners = set()
        self.entries = 0

    def check(self, str owner, object index, object direction, object protocol, object ports,
              object action=None):
        """Validates the fields every rule has; returns (direction code, protocol, low, high)."""
        if direction not in _DIRECTIONS:
            raise _bad(owner, index, f"invalid direction {direction!r}: ingress or egress")
        if protocol not in _PROTOCOLS:
            raise _bad(owner, index, f"invalid protocol {protocol!r}: one of {sorted(_PROTOCOLS)}")
        if action is not None and action not in _ACTIONS:
            raise _bad(owner, index, f"invalid action {action!r}: allow or deny")
        lo, hi = _checked_ports(ports, protocol, owner, index)
        return _DIRECTIONS[direction], protocol, lo, hi

    def add(self, int kind, str owner, object index, object direction,
            object protocol, object ports, object cidr, uint32_t rule_id, long priority=0,
            object action=None, bint member=False):
        """Adds one rule (or one member address of a source group when ``member``).

        ``cidr`` may be a bare address (a host prefix). A member of the wrong family for an
        icmp/icmpv6 rule is skipped (groups mix families); for a CIDR it is an error.
        """
        if rule_id == 0 or rule_id & FW_RANGE_DENY:
            raise InvalidArgumentError(f"{owner} rule {index}: rule id {rule_id} out of range")
        code, proto, lo, hi = self.check(owner, index, direction, protocol, ports, action)
        if not isinstance(cidr, str):
            raise _bad(owner, index, f"invalid CIDR {cidr!r}: expected a string")
        family, value, plen = _parse_cidr(cidr, owner, index)
        if member and ((proto == "icmp" and family != FW_FAMILY_V4) or
                       (proto == "icmpv6" and family != FW_FAMILY_V6)):
            return
        word = rule_id | (FW_RANGE_DENY if action == "deny" else 0)
        kind_dir = (kind << 1) | code
        self.owners.add(owner)
        for pclass in _classes(proto, family, owner, index):
            key = (kind_dir, family, pclass)
            bucket = self.classes.get(key)
            if bucket is None:
                bucket = self.classes[key] = []
            bucket.append((value, plen, lo, hi, priority, word))
            self.entries += 1

    def build(self):
        """Packs every class into LPM entries (and overflow entries for long range lists)."""
        cdef Py_ssize_t cap = max(self.entries, 1)
        cdef bytearray keys = bytearray(cap * sizeof(fw_rule_key))
        cdef bytearray values = bytearray(cap * sizeof(fw_rule_val))
        cdef bytearray hkeys = bytearray(cap * sizeof(fw_rule_key))
        cdef bytearray hvalues = bytearray(cap * sizeof(fw_rule_val))
        cdef list okeys = []
        cdef list ovalues = []
        cdef char *kp
        cdef char *vp
        cdef fw_rule_key k
        cdef fw_rule_val v
        cdef fw_overflow o
        cdef fw_set_info info
        cdef Py_ssize_t count = 0, hcount = 0, i, nseg, cls
        cdef Py_ssize_t *counter
        cdef uint32_t oid
        cdef list stack, own, segs
        cdef bytes addr
        memset(&info, 0, sizeof(info))
        for (kind_dir, family, pclass), bucket in self.classes.items():
            bucket.sort()
            cls = ((kind_dir * 2) + (1 if family == FW_FAMILY_V6 else 0)) * 5 + pclass
            lengths = sorted({entry[1] for entry in bucket}, reverse=True)
            if len(bucket) >= HASH_MIN and len(lengths) <= FW_HASH_LENS:
                info.nlens[cls] = len(lengths)
                for j, plen in enumerate(lengths):
                    info.lens[cls][j] = plen
                kp = hkeys
                vp = hvalues
                counter = &hcount
            else:
                info.nlens[cls] = FW_CLASS_TRIE
                kp = keys
                vp = values
                counter = &count
            stack = []  # (value, plen, segments) of the containing prefixes
            i = 0
            n = len(bucket)
            while i < n:
                value, plen = bucket[i][0], bucket[i][1]
                own = []
                while i < n and bucket[i][0] == value and bucket[i][1] == plen:
                    own.append(bucket[i][2:])
                    i += 1
                while stack:
                    pv, pl, _ps = stack[-1]
                    if pl <= plen and (pv >> (128 - pl)) == (value >> (128 - pl)):
                        break
                    stack.pop()
                if stack:
                    own.extend(stack[-1][2])
                segs = _segments(own)
                stack.append((value, plen, segs))

                memset(&k, 0, sizeof(k))
                memset(&v, 0, sizeof(v))
                k.prefixlen = FW_KEY_FIXED_BITS + plen
                k.kind_dir = kind_dir
                k.family = family
                k.proto = pclass
                addr = value.to_bytes(16, "big")
                memcpy(k.addr, PyBytes_AS_STRING(addr), 16)
                nseg = len(segs)
                if _all_ports(segs):
                    v.flags = FW_VAL_ALL_PORTS
                if nseg <= FW_INLINE_RANGES:
                    v.nranges = nseg
                    for j, (lo, hi, _prio, word) in enumerate(segs):
                        v.r[j].lo = lo
                        v.r[j].hi = hi
                        v.r[j].rule = word
                else:
                    if nseg > FW_OVERFLOW_RANGES:
                        raise CapacityError(
                            f"{', '.join(sorted(self.owners))}: {nseg} distinct port ranges for one "
                            f"address prefix, at most {FW_OVERFLOW_RANGES}"
                        )
                    oid = len(okeys)
                    v.nranges = FW_NRANGES_OVERFLOW
                    v.overflow_id = oid
                    memset(&o, 0, sizeof(o))
                    o.nranges = nseg
                    for j, (lo, hi, _prio, word) in enumerate(segs):
                        o.r[j].lo = lo
                        o.r[j].hi = hi
                        o.r[j].rule = word
                    okeys.append(oid.to_bytes(4, "little"))
                    ovalues.append(PyBytes_FromStringAndSize(<char *>&o, sizeof(o)))
                memcpy(kp + counter[0] * sizeof(fw_rule_key), &k, sizeof(k))
                memcpy(vp + counter[0] * sizeof(fw_rule_val), &v, sizeof(v))
                counter[0] += 1
        return CompiledRules(
            bytes(keys[: count * sizeof(fw_rule_key)]),
            bytes(values[: count * sizeof(fw_rule_val)]),
            count,
            bytes(hkeys[: hcount * sizeof(fw_rule_key)]),
            bytes(hvalues[: hcount * sizeof(fw_rule_val)]),
            hcount,
            b"".join(okeys),
            b"".join(ovalues),
            len(okeys),
            PyBytes_FromStringAndSize(<char *>&info, sizeof(info)),
        )
