"""The Cython rule compiler: validation that names the rule, and the packed map contents.

The packed LPM entries are decoded here with struct (layouts of native/bpf/fw_maps.h) and
checked against a plain reference: for every address and port, the rule that should decide.
"""

from __future__ import annotations

import ipaddress
import random
import struct
import time

import pytest

from thecloud.core.errors import CapacityError, InvalidArgumentError
from thecloud.dataplane.bpf import AclRule, NetworkAcl, SecurityGroup, SecurityGroupRule
from thecloud.dataplane.bpf._compile import (
    HASH_MIN,
    INFO_SIZE,
    KEY_SIZE,
    KIND_ACL,
    KIND_SG,
    OVERFLOW_VALUE_SIZE,
    RANGE_DENY,
    VALUE_SIZE,
    CompiledRules,
    RuleCompiler,
)
from thecloud.dataplane.bpf.compiler import Attachment, RuleIds, compile_state

pytestmark = pytest.mark.unit

KEY = struct.Struct("<IBBBB16s")
HEAD = struct.Struct("<IHH")
RANGE = struct.Struct("<HHI")
PROTO = {"tcp": 1, "udp": 2, "icmp": 3, "icmpv6": 4, "other": 0}


def decode(rules: CompiledRules) -> dict[tuple[int, int, int, int, bytes], list[tuple]]:
    """{(kind_dir, family, proto, plen, addr): [(lo, hi, rule word)]}."""
    overflow = {}
    for i in range(rules.overflow_count):
        (oid,) = struct.unpack_from("<I", rules.overflow_keys, i * 4)
        base = i * OVERFLOW_VALUE_SIZE
        (n,) = struct.unpack_from("<I", rules.overflow_values, base)
        overflow[oid] = [
            RANGE.unpack_from(rules.overflow_values, base + 8 + j * 8) for j in range(n)
        ]
    out = {}
    tables = ((rules.keys, rules.values, rules.count),)
    tables += ((rules.hash_keys, rules.hash_values, rules.hash_count),)
    for keys, values, count in tables:  # a trie and a hash hold the same entries
        for i in range(count):
            plen, kd, fam, proto, _pad, addr = KEY.unpack_from(keys, i * KEY_SIZE)
            oid, n, _flags = HEAD.unpack_from(values, i * VALUE_SIZE)
            if n == 0xFFFF:
                ranges = overflow[oid]
            else:
                base = i * VALUE_SIZE + 8
                ranges = [RANGE.unpack_from(values, base + j * 8) for j in range(n)]
            out[(kd, fam, proto, plen - 32, addr)] = ranges
    return out


def lookup(table: dict, *where: int | str) -> int:
    """Longest-prefix match then port range, as the BPF program does: the rule word or 0.

    `where` is (kind|direction, family, protocol class, address, port).
    """
    kd, fam, proto, addr, port = where
    assert isinstance(addr, str) and isinstance(port, int)
    raw = ipaddress.ip_address(addr).packed.ljust(16, b"\0")
    value = int.from_bytes(raw, "big")
    best = None
    for (k, f, p, plen, a), ranges in table.items():
        if (k, f, p) != (kd, fam, proto):
            continue
        net = int.from_bytes(a, "big")
        covers = plen == 0 or (value >> (128 - plen)) == (net >> (128 - plen))
        if covers and (best is None or plen > best[0]):
            best = (plen, ranges)
    if best is None:
        return 0
    for lo, hi, word in best[1]:
        if lo <= port <= hi:
            return word
    return 0


def test_rule_sizes_match_the_header() -> None:
    assert (KEY_SIZE, VALUE_SIZE, OVERFLOW_VALUE_SIZE) == (24, 56, 1032)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (("ingress", "tcp", (10, 5), "10.0.0.0/8"), "invalid port range"),
        (("ingress", "tcp", (0, 70000), "10.0.0.0/8"), "invalid port range"),
        (("ingress", "tcp", None, "10.0.0.1/8"), "host bits set"),
        (("ingress", "tcp", None, "10.0.0.0/33"), "prefix length above 32"),
        (("ingress", "tcp", None, "300.1.0.0/16"), "not an IP address"),
        (("ingress", "tcp", None, "fd00::/129"), "prefix length above 128"),
        (("ingress", "gre", None, "10.0.0.0/8"), "invalid protocol 'gre'"),
        (("inbound", "tcp", None, "10.0.0.0/8"), "invalid direction 'inbound'"),
        (("ingress", "icmp", (1, 2), "10.0.0.0/8"), "ports are only valid for tcp and udp"),
        (("ingress", "all", (1, 2), "10.0.0.0/8"), "ports are only valid for tcp and udp"),
        (("ingress", "icmp", None, "fd00::/8"), "icmp rule with an IPv6 address"),
        (("ingress", "icmpv6", None, "10.0.0.0/8"), "icmpv6 rule with an IPv4 address"),
    ],
)
def test_invalid_rules_are_refused_naming_the_rule(fields: tuple, message: str) -> None:
    compiler = RuleCompiler()
    with pytest.raises(InvalidArgumentError, match=rf"security group sg-x rule 3: .*{message}"):
        compiler.add(KIND_SG, "security group sg-x", 3, *fields, 7)


def test_containing_prefixes_fold_into_the_longest_match() -> None:
    compiler = RuleCompiler()
    compiler.add(KIND_SG, "sg", 0, "ingress", "tcp", (22, 22), "10.0.0.0/8", 1)
    compiler.add(KIND_SG, "sg", 1, "ingress", "tcp", (80, 90), "10.1.0.0/16", 2)
    compiler.add(KIND_SG, "sg", 2, "ingress", "tcp", (85, 100), "10.1.2.0/24", 3)
    table = decode(compiler.build())
    tcp = PROTO["tcp"]
    assert lookup(table, 0, 4, tcp, "10.1.2.3", 22) == 1
    assert lookup(table, 0, 4, tcp, "10.1.2.3", 80) == 2
    assert lookup(table, 0, 4, tcp, "10.1.2.3", 95) in (2, 3)
    assert lookup(table, 0, 4, tcp, "10.1.2.3", 100) == 3
    assert lookup(table, 0, 4, tcp, "10.1.9.9", 100) == 0
    assert lookup(table, 0, 4, tcp, "10.9.9.9", 80) == 0
    assert lookup(table, 0, 4, tcp, "11.0.0.1", 22) == 0
    # Other directions and protocols hold nothing.
    assert lookup(table, 1, 4, tcp, "10.1.2.3", 22) == 0
    assert lookup(table, 0, 4, PROTO["udp"], "10.1.2.3", 22) == 0


def test_all_protocols_expand_per_family() -> None:
    compiler = RuleCompiler()
    compiler.add(KIND_SG, "sg", 0, "egress", "all", None, "::/0", 5)
    table = decode(compiler.build())
    protos = sorted(key[2] for key in table)
    assert protos == sorted([PROTO["tcp"], PROTO["udp"], PROTO["icmpv6"], PROTO["other"]])
    assert all(ranges == [(0, 65535, 5)] for ranges in table.values())


def test_acl_first_match_wins_by_number_across_prefixes() -> None:
    compiler = RuleCompiler()
    add = compiler.add
    # 100 deny tcp 10.0.0.0/8 port 22; 200 allow tcp 10.1.0.0/16 all; 50 allow 10.1.2.0/24 22
    add(KIND_ACL, "acl", 100, "ingress", "tcp", (22, 22), "10.0.0.0/8", 1, 100, "deny")
    add(KIND_ACL, "acl", 200, "ingress", "tcp", None, "10.1.0.0/16", 2, 200, "allow")
    add(KIND_ACL, "acl", 50, "ingress", "tcp", (22, 22), "10.1.2.0/24", 3, 50, "allow")
    table = decode(compiler.build())
    kd, tcp = KIND_ACL << 1, PROTO["tcp"]
    assert lookup(table, kd, 4, tcp, "10.1.9.9", 22) == 1 | RANGE_DENY
    assert lookup(table, kd, 4, tcp, "10.1.9.9", 23) == 2
    assert lookup(table, kd, 4, tcp, "10.1.2.9", 22) == 3
    assert lookup(table, kd, 4, tcp, "10.2.0.1", 23) == 0  # default deny: no range


def test_compiled_lookup_matches_a_linear_reference() -> None:
    rng = random.Random(5)
    compiler = RuleCompiler()
    rules = []
    for i in range(300):
        plen = rng.choice([8, 16, 20, 24, 28, 32])
        net = ipaddress.ip_network((rng.getrandbits(32) & ~((1 << (32 - plen)) - 1), plen))
        lo = rng.randrange(0, 1000)
        ports = (lo, lo + rng.randrange(0, 50))
        number = i + 1
        action = rng.choice(["allow", "deny"])
        compiler.add(
            KIND_ACL, "acl", number, "egress", "udp", ports, str(net), number, number, action
        )
        rules.append((number, net, ports, action))
    table = decode(compiler.build())
    for _ in range(2000):
        number, net, ports, _action = rng.choice(rules)
        addr = str(net[rng.randrange(net.num_addresses)])
        port = rng.choice([ports[0], ports[1], rng.randrange(0, 1100)])
        expected = 0
        for n, other, (lo, hi), action in rules:  # numbers ascend: first match wins
            if ipaddress.ip_address(addr) in other and lo <= port <= hi:
                expected = n | (RANGE_DENY if action == "deny" else 0)
                break
        assert lookup(table, (KIND_ACL << 1) | 1, 4, PROTO["udp"], addr, port) == expected


def test_classes_with_many_prefixes_of_few_lengths_go_into_a_hash() -> None:
    compiler = RuleCompiler()
    for i in range(HASH_MIN):
        compiler.add(KIND_SG, "sg", i, "ingress", "udp", (53, 53), f"10.0.{i}.0/24", i + 1)
        compiler.add(KIND_SG, "sg", i, "ingress", "udp", (54, 54), f"10.1.{i}.7/32", i + 1)
    compiler.add(KIND_SG, "sg", 999, "ingress", "udp", (55, 55), "10.0.0.0/8", 999)
    compiler.add(KIND_SG, "sg", 1000, "ingress", "tcp", (80, 80), "10.0.0.0/8", 1000)
    built = compiler.build()
    assert built.hash_count == 2 * HASH_MIN + 1
    assert built.count == 1  # the lone tcp prefix stays in the trie
    assert len(built.info) == INFO_SIZE
    udp = ((0 * 2) + 0) * 5 + PROTO["udp"]
    assert built.info[udp] == 3
    assert list(built.info[40 + udp * 3 : 40 + udp * 3 + 3]) == [32, 24, 8]
    assert built.info[((0 * 2) + 0) * 5 + PROTO["tcp"]] == 0xFF
    table = decode(built)
    assert lookup(table, 0, 4, PROTO["udp"], "10.0.7.9", 53) == 8
    assert lookup(table, 0, 4, PROTO["udp"], "10.0.7.9", 55) == 999
    assert lookup(table, 0, 4, PROTO["udp"], "10.1.7.7", 54) == 8


def test_many_port_ranges_spill_into_the_overflow_table() -> None:
    compiler = RuleCompiler()
    for i in range(20):
        compiler.add(KIND_SG, "sg", i, "ingress", "udp", (i * 10, i * 10), "0.0.0.0/0", i + 1)
    built = compiler.build()
    assert built.overflow_count == 1
    table = decode(built)
    assert lookup(table, 0, 4, PROTO["udp"], "1.2.3.4", 150) == 16
    assert lookup(table, 0, 4, PROTO["udp"], "1.2.3.4", 151) == 0


def test_too_many_ranges_for_one_prefix_is_a_capacity_error() -> None:
    compiler = RuleCompiler()
    for i in range(200):
        compiler.add(
            KIND_SG,
            "security group big",
            i,
            "ingress",
            "tcp",
            (i * 2, i * 2),
            "0.0.0.0/0",
            i + 1,
        )
    with pytest.raises(CapacityError, match="security group big"):
        compiler.build()


def _state(groups: list[SecurityGroup], acl: NetworkAcl | None = None):
    attached = {"vm": Attachment(7, tuple(g.id for g in groups), acl and acl.id, ("10.0.0.5",), 1)}
    acls = {} if acl is None else {acl.id: acl}
    return {g.id: g for g in groups}, acls, attached


def test_state_errors_name_the_group_and_rule() -> None:
    bad = SecurityGroup(
        "sg-a", [SecurityGroupRule("ingress", "tcp", (22, 22), source_group="sg-nope")]
    )
    with pytest.raises(
        InvalidArgumentError, match="security group sg-a rule 0: unknown source group"
    ):
        compile_state(*_state([bad]), RuleIds(100))
    both = SecurityGroup("sg-b", [SecurityGroupRule("ingress", "tcp", None, "1.0.0.0/8", "sg-b")])
    with pytest.raises(InvalidArgumentError, match="sg-b rule 0: give cidr or source_group"):
        compile_state(*_state([both]), RuleIds(100))
    acl = NetworkAcl(
        "acl-1",
        [
            AclRule(10, "allow", "ingress", "tcp", "0.0.0.0/0"),
            AclRule(10, "deny", "ingress", "udp", "0.0.0.0/0"),
        ],
    )
    with pytest.raises(InvalidArgumentError, match="network ACL acl-1 rule 10: duplicate"):
        compile_state(*_state([], acl), RuleIds(100))
    verb = NetworkAcl("acl-2", [AclRule(10, "maybe", "ingress", "tcp", "0.0.0.0/0")])
    with pytest.raises(InvalidArgumentError, match="network ACL acl-2 rule 10: invalid action"):
        compile_state(*_state([], verb), RuleIds(100))


def test_source_group_compiles_to_member_addresses() -> None:
    db = SecurityGroup(
        "sg-db", [SecurityGroupRule("ingress", "tcp", (5432, 5432), source_group="sg-app")]
    )
    app = SecurityGroup("sg-app", [], members=["10.0.1.1", "fd00::7"])
    plan = compile_state(*_state([db, app]), RuleIds(100))
    table = decode(plan.compiled[("sg", ("sg-app", "sg-db"))])
    # The declared members, plus the address of the interface attached with sg-app.
    addrs = sorted(str(ipaddress.ip_address(key[4][: 4 if key[1] == 4 else 16])) for key in table)
    assert addrs == ["10.0.0.5", "10.0.1.1", "fd00::7"]


def test_unchanged_rules_keep_their_ids() -> None:
    ids = RuleIds(100)
    r1 = SecurityGroupRule("ingress", "tcp", (22, 22), "10.0.0.0/8")
    r2 = SecurityGroupRule("ingress", "tcp", (80, 80), "10.0.0.0/8")
    first = compile_state(*_state([SecurityGroup("sg", [r1, r2])]), ids)
    ids.commit(first.owners, first.ids)
    r3 = SecurityGroupRule("ingress", "udp", (53, 53), "10.0.0.0/8")
    second = compile_state(*_state([SecurityGroup("sg", [r3, r2])]), ids)
    old, new = first.ids[("sg", "sg")], second.ids[("sg", "sg")]
    assert new[1] == old[1]
    assert new[0] not in old
    assert second.reused_ids == []  # a never-used id: its counters are still zero


def test_capacity_of_rule_ids_is_enforced() -> None:
    rules = [SecurityGroupRule("ingress", "tcp", (i, i), "10.0.0.0/8") for i in range(10)]
    with pytest.raises(CapacityError):
        compile_state(*_state([SecurityGroup("sg", rules)]), RuleIds(5))


def test_hundred_thousand_rules_compile_quickly() -> None:
    rules = [
        SecurityGroupRule(
            "ingress", "tcp", (443, 443), f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}/32"
        )
        for i in range(100_000)
    ]
    group = SecurityGroup("sg-big", rules)
    start = time.perf_counter()
    plan = compile_state(*_state([group]), RuleIds(1 << 18))
    elapsed = time.perf_counter() - start
    compiled = plan.compiled[("sg", ("sg-big",))]
    # One prefix length, many prefixes: the class goes into a hash, not a (deep) trie.
    assert (compiled.count, compiled.hash_count) == (0, 100_000)
    tcp_ingress_v4 = ((0 * 2) + 0) * 5 + PROTO["tcp"]
    assert compiled.info[tcp_ingress_v4] == 1  # one length to try
    assert compiled.info[40 + tcp_ingress_v4 * 3] == 32
    assert elapsed < 2.0, f"compiling 100k rules took {elapsed:.2f} s"
