"""BPF_PROG_TEST_RUN of the firewall's programs on crafted frames (real kernel, no traffic).

The tc programs judge a test frame by the rules of the interface named in the run's context,
so the firewall is attached to a veth pair made for the module. Verdicts: TC_ACT_OK (0) passes,
TC_ACT_SHOT (2) drops; XDP_PASS (2) / XDP_DROP (1) for the guard.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.integration.bpf_frames import (
    ETH_ARP,
    ETH_IP6,
    ETH_QINQ,
    ETH_VLAN,
    arp,
    eth,
    fragment6,
    hop_by_hop,
    icmp_echo,
    icmp_error,
    ipv4,
    ipv6,
    tcp,
    udp,
)
from tests.integration.bpf_netns import sh
from thecloud.dataplane.bpf import AclRule as Acl
from thecloud.dataplane.bpf import DdosGuard, Firewall, NetworkAcl, SecurityGroup
from thecloud.dataplane.bpf import SecurityGroupRule as Rule

pytestmark = pytest.mark.integration

OK, SHOT = 0, 2
XDP_DROP, XDP_PASS = 1, 2
REMOTE, INSTANCE = "192.0.2.10", "10.1.0.5"
REMOTE6, INSTANCE6 = "2001:db8::10", "fd01::5"

GROUP = SecurityGroup(
    "sg-test",
    [
        Rule("ingress", "tcp", (22, 22), "192.0.2.0/24"),
        Rule("ingress", "udp", None, "192.0.2.0/24"),  # every port: fragments may pass
        Rule("ingress", "tcp", (443, 443), "2001:db8::/32"),
        Rule("ingress", "icmpv6", None, "2001:db8::/32"),
        Rule("ingress", "icmp", None, "198.51.100.0/24"),
    ],
)


@pytest.fixture(scope="module")
def fw() -> Iterator[tuple[Firewall, str]]:
    name = f"fwp{uuid.uuid4().hex[:6]}"
    sh("ip", "link", "add", name, "type", "veth", "peer", "name", f"{name}p")
    sh("ip", "link", "set", name, "up")
    try:
        with Firewall() as firewall:
            firewall.attach(name, [GROUP])
            yield firewall, name
    finally:
        sh("ip", "link", "del", name, check=False)


def verdict(fw: tuple[Firewall, str], frame: bytes, program: str = "tc_ingress") -> int:
    firewall, ifname = fw
    on = ifname if program.startswith("tc_") else None
    return firewall.test_run(program, frame, ifname=on).retval


def test_allowed_and_denied_ports(fw: tuple[Firewall, str]) -> None:
    assert verdict(fw, eth(ipv4(REMOTE, INSTANCE, 6, tcp(40000, 22)))) == OK
    assert verdict(fw, eth(ipv4(REMOTE, INSTANCE, 6, tcp(40001, 23)))) == SHOT
    assert verdict(fw, eth(ipv4("203.0.113.1", INSTANCE, 6, tcp(40002, 22)))) == SHOT
    assert verdict(fw, eth(ipv4(REMOTE, INSTANCE, 17, udp(5000, 9999)))) == OK
    assert verdict(fw, eth(ipv4("198.51.100.7", INSTANCE, 1, icmp_echo()))) == OK
    assert verdict(fw, eth(ipv4(REMOTE, INSTANCE, 1, icmp_echo()))) == SHOT


def test_truncated_headers_are_dropped(fw: tuple[Firewall, str]) -> None:
    whole = eth(ipv4(REMOTE, INSTANCE, 6, tcp(40010, 22)))
    v6 = eth(ipv6(REMOTE6, INSTANCE6, 6, tcp(40011, 443)), ETH_IP6)
    vlan = eth(ipv4(REMOTE, INSTANCE, 6, tcp(40012, 22)), vlans=(ETH_VLAN,))
    # The kernel refuses tc test runs whose IP header is cut, so L3 cuts go through the XDP
    # program, which shares the parser; L4 cuts through tc.
    for frame in (whole[: 14 + 10], whole[: 14 + 19], v6[: 14 + 20], v6[: 14 + 39]):
        assert verdict(fw, frame, "xdp_guard") == XDP_DROP, len(frame)
    for frame in (whole[: 14 + 20 + 10], whole[: 14 + 20 + 19], v6[: 14 + 40 + 5], vlan[:16]):
        assert verdict(fw, frame) == SHOT, len(frame)
    assert verdict(fw, whole) == OK
    assert verdict(fw, v6) == OK
    assert fw[0].stats()["global"]["malformed"] >= 8


def test_ip_options_are_skipped_by_ihl(fw: tuple[Firewall, str]) -> None:
    options = b"\x01" * 8  # eight NOPs: ihl 7
    assert verdict(fw, eth(ipv4(REMOTE, INSTANCE, 6, tcp(40020, 22), options=options))) == OK
    assert verdict(fw, eth(ipv4(REMOTE, INSTANCE, 6, tcp(40021, 80), options=options))) == SHOT
    # ihl below 5 is not a valid header.
    bad = bytearray(eth(ipv4(REMOTE, INSTANCE, 6, tcp(40022, 22))))
    bad[14] = 0x44
    assert verdict(fw, bytes(bad)) == SHOT


def test_vlan_tags_are_skipped(fw: tuple[Firewall, str]) -> None:
    allowed = ipv4(REMOTE, INSTANCE, 6, tcp(40030, 22))
    denied = ipv4(REMOTE, INSTANCE, 6, tcp(40031, 25))
    assert verdict(fw, eth(allowed, vlans=(ETH_VLAN,))) == OK
    assert verdict(fw, eth(allowed, vlans=(ETH_QINQ, ETH_VLAN))) == OK
    assert verdict(fw, eth(denied, vlans=(ETH_VLAN,))) == SHOT
    assert verdict(fw, eth(allowed, vlans=(ETH_QINQ, ETH_VLAN, ETH_VLAN))) == SHOT


def test_fragments(fw: tuple[Firewall, str]) -> None:
    # A first fragment has ports: judged normally.
    first = ipv4(REMOTE, INSTANCE, 6, tcp(40040, 22), more_fragments=True)
    assert verdict(fw, eth(first)) == OK
    # Later fragments have no ports: they pass only where every port of the protocol is allowed.
    later_udp = ipv4(REMOTE, INSTANCE, 17, b"\xaa" * 32, frag_offset=1480)
    assert verdict(fw, eth(later_udp)) == OK
    later_tcp = ipv4(REMOTE, INSTANCE, 6, b"\xaa" * 32, frag_offset=1480)
    assert verdict(fw, eth(later_tcp)) == SHOT
    # The same for IPv6 fragment headers.
    first6 = ipv6(REMOTE6, INSTANCE6, 44, fragment6(6, 0, True) + tcp(40041, 443))
    assert verdict(fw, eth(first6, ETH_IP6)) == OK
    later6 = ipv6(REMOTE6, INSTANCE6, 44, fragment6(6, 1448, False) + b"\xaa" * 32)
    assert verdict(fw, eth(later6, ETH_IP6)) == SHOT


def test_ipv6_extension_headers_are_walked(fw: tuple[Firewall, str]) -> None:
    allowed = ipv6(REMOTE6, INSTANCE6, 0, hop_by_hop(6) + tcp(40050, 443))
    denied = ipv6(REMOTE6, INSTANCE6, 0, hop_by_hop(6) + tcp(40051, 444))
    assert verdict(fw, eth(allowed, ETH_IP6)) == OK
    assert verdict(fw, eth(denied, ETH_IP6)) == SHOT
    echo = ipv6(REMOTE6, INSTANCE6, 58, icmp_echo(9, icmp_type=128))
    assert verdict(fw, eth(echo, ETH_IP6)) == OK


def test_arp_and_neighbour_discovery_pass(fw: tuple[Firewall, str]) -> None:
    assert verdict(fw, eth(arp(), ETH_ARP)) == OK
    solicit = ipv6("fe80::1", "ff02::1:ff00:5", 58, b"\x87\x00\x00\x00" + b"\0" * 20)
    assert verdict(fw, eth(solicit, ETH_IP6)) == OK


def test_return_traffic_of_an_allowed_flow_passes(fw: tuple[Firewall, str]) -> None:
    out = eth(ipv4(INSTANCE, REMOTE, 6, tcp(41000, 8080)))
    back = eth(ipv4(REMOTE, INSTANCE, 6, tcp(8080, 41000, flags=0x12)))
    assert verdict(fw, back) == SHOT  # unsolicited
    assert verdict(fw, out, "tc_egress") == SHOT  # no egress rule: the flow never opens
    firewall = fw[0]
    firewall.update_group(
        SecurityGroup(GROUP.id, [*GROUP.rules, Rule("egress", "tcp", (8080, 8080), "0.0.0.0/0")])
    )
    try:
        assert verdict(fw, out, "tc_egress") == OK
        assert verdict(fw, back) == OK
    finally:
        firewall.update_group(GROUP)


def test_flows_do_not_outlive_their_attachment(fw: tuple[Firewall, str]) -> None:
    firewall, ifname = fw
    out = eth(ipv4(INSTANCE, REMOTE, 6, tcp(41100, 8080)))
    back = eth(ipv4(REMOTE, INSTANCE, 6, tcp(8080, 41100, flags=0x10)))
    opened = SecurityGroup(
        GROUP.id, [*GROUP.rules, Rule("egress", "tcp", (8080, 8080), "0.0.0.0/0")]
    )
    firewall.attach(ifname, [opened])
    try:
        assert verdict(fw, out, "tc_egress") == OK
        assert verdict(fw, back) == OK
        firewall.attach(ifname, [opened])  # new settings, same attachment: the flow carries on
        assert verdict(fw, back) == OK
        firewall.detach(ifname)
        firewall.attach(ifname, [opened])  # a new attachment (a reused ifindex) starts afresh
        assert verdict(fw, back) == SHOT
        assert verdict(fw, out, "tc_egress") == OK
        assert verdict(fw, back) == OK
    finally:
        firewall.attach(ifname, [GROUP])


def test_an_instance_may_send_only_from_its_own_addresses(fw: tuple[Firewall, str]) -> None:
    firewall, ifname = fw
    egress = [Rule("egress", "udp", None, "0.0.0.0/0"), Rule("egress", "udp", None, "::/0")]
    opened = SecurityGroup(GROUP.id, [*GROUP.rules, *egress])

    def sent(src: str, dst: str = REMOTE, sport: int = 5000, dport: int = 53) -> int:
        if ":" in src:
            return verdict(fw, eth(ipv6(src, dst, 17, udp(sport, dport)), ETH_IP6), "tc_egress")
        return verdict(fw, eth(ipv4(src, dst, 17, udp(sport, dport))), "tc_egress")

    firewall.attach(ifname, [opened], addresses=[INSTANCE, INSTANCE6])
    try:
        spoofed_before = firewall.stats()["global"]["spoofed_source"]
        assert sent(INSTANCE) == OK
        assert sent(INSTANCE6, REMOTE6) == OK
        assert sent("10.1.0.6") == SHOT
        assert sent("fd01::6", REMOTE6) == SHOT
        assert sent("fe80::5", REMOTE6) == OK  # link-local: before any address is configured
        assert sent("0.0.0.0", "255.255.255.255", 68, 67) == OK  # a DHCP request
        assert sent("0.0.0.0", REMOTE, 68, 53) == SHOT
        assert firewall.stats()["global"]["spoofed_source"] - spoofed_before == 3
        firewall.attach(ifname, [opened])  # no addresses given: sources are not checked
        assert sent("10.1.0.6") == OK
    finally:
        firewall.attach(ifname, [GROUP])


def test_icmp_errors_about_a_tracked_flow_pass_without_an_icmp_rule(
    fw: tuple[Firewall, str],
) -> None:
    firewall, ifname = fw
    router, router6 = "203.0.113.1", "fd00:ffff::1"  # no rule admits ICMP from either
    egress = [Rule("egress", "tcp", (443, 443), "0.0.0.0/0"), Rule("egress", "udp", None, "::/0")]
    firewall.attach(ifname, [SecurityGroup(GROUP.id, [*GROUP.rules, *egress])])
    try:
        sent = ipv4(INSTANCE, REMOTE, 6, tcp(41200, 443))
        assert verdict(fw, eth(sent), "tc_egress") == OK
        too_big = icmp_error(3, 4, sent[:28])  # fragmentation needed, quoting our SYN
        assert verdict(fw, eth(ipv4(router, INSTANCE, 1, too_big))) == OK
        other = ipv4(INSTANCE, REMOTE, 6, tcp(41201, 443))  # a flow that never opened
        assert verdict(fw, eth(ipv4(router, INSTANCE, 1, icmp_error(3, 4, other[:28])))) == SHOT
        assert verdict(fw, eth(ipv4(router, INSTANCE, 1, icmp_error(5, 0, sent[:28])))) == SHOT

        sent6 = ipv6(INSTANCE6, REMOTE6, 17, udp(41202, 53))
        assert verdict(fw, eth(sent6, ETH_IP6), "tc_egress") == OK
        packet_too_big = icmp_error(2, 0, sent6[:48])
        assert verdict(fw, eth(ipv6(router6, INSTANCE6, 58, packet_too_big), ETH_IP6)) == OK

        # From the instance: a port unreachable about an inbound datagram the rules let in.
        received = ipv4(REMOTE, INSTANCE, 17, udp(5353, 9999))
        assert verdict(fw, eth(received)) == OK
        unreachable = icmp_error(3, 3, received[:28])
        assert verdict(fw, eth(ipv4(INSTANCE, REMOTE, 1, unreachable)), "tc_egress") == OK
        assert firewall.stats()["global"]["conntrack_related"] >= 3
    finally:
        firewall.attach(ifname, [GROUP])


def test_acl_is_evaluated_before_the_group(fw: tuple[Firewall, str]) -> None:
    firewall, ifname = fw
    acl = NetworkAcl(
        "acl-test",
        [
            Acl(10, "deny", "ingress", "tcp", "192.0.2.10/32", (22, 22)),
            Acl(20, "allow", "ingress", "all", "0.0.0.0/0"),
        ],
    )
    firewall.set_acl(ifname, acl)
    try:
        assert verdict(fw, eth(ipv4(REMOTE, INSTANCE, 6, tcp(40060, 22)))) == SHOT
        assert verdict(fw, eth(ipv4("192.0.2.11", INSTANCE, 6, tcp(40061, 22)))) == OK
        # IPv6 has no ACL rule: default deny.
        assert verdict(fw, eth(ipv6(REMOTE6, INSTANCE6, 6, tcp(40062, 443)), ETH_IP6)) == SHOT
        stats = firewall.stats()
        deny = next(r for r in stats["acls"]["acl-test"] if r["number"] == 10)
        assert deny["denied"] >= 1
        assert deny["allowed"] == 0
    finally:
        firewall.set_acl(ifname, None)


def test_ddos_guard_limits_new_connections_per_source() -> None:
    with Firewall() as firewall:
        name = f"fwg{uuid.uuid4().hex[:6]}"
        sh("ip", "link", "add", name, "type", "veth", "peer", "name", f"{name}p")
        try:
            firewall.attach_guard(name, DdosGuard(syn_rate=1, syn_burst=3, udp_rate=1, udp_burst=2))

            def run(frame: bytes) -> int:
                return firewall.test_run("xdp_guard", frame).retval

            syn = eth(ipv4("203.0.113.9", INSTANCE, 6, tcp(1000, 80)))
            results = [run(syn) for _ in range(10)]
            assert results[:3] == [XDP_PASS] * 3
            assert results.count(XDP_DROP) >= 6
            # Another source has its own bucket; established TCP (ACK) is never limited.
            assert run(eth(ipv4("203.0.113.10", INSTANCE, 6, tcp(1000, 80)))) == XDP_PASS
            ack = eth(ipv4("203.0.113.9", INSTANCE, 6, tcp(1000, 80, flags=0x10)))
            assert run(ack) == XDP_PASS
            udp_results = [
                run(eth(ipv4("203.0.113.9", INSTANCE, 17, udp(1, 53)))) for _ in range(6)
            ]
            assert udp_results[:2] == [XDP_PASS] * 2
            assert XDP_DROP in udp_results
            assert run(eth(ipv4(REMOTE, INSTANCE, 6, tcp(1, 2))[:30])) == XDP_DROP  # truncated
            stats = firewall.stats()["global"]
            assert stats["guard_syn_drop"] >= 6
            assert stats["guard_udp_drop"] >= 1
        finally:
            sh("ip", "link", "del", name, check=False)


def test_many_port_ranges_on_one_prefix_use_the_overflow_table(fw: tuple[Firewall, str]) -> None:
    firewall = fw[0]
    ports = [2000 + 7 * i for i in range(40)]  # 40 ranges: beyond the 6 kept inline
    many = [Rule("ingress", "tcp", (p, p), "203.0.113.0/24") for p in ports]
    firewall.update_group(SecurityGroup(GROUP.id, [*GROUP.rules, *many]))
    try:
        for p in (ports[0], ports[17], ports[-1]):
            assert verdict(fw, eth(ipv4("203.0.113.5", INSTANCE, 6, tcp(40100, p)))) == OK
        for p in (ports[0] - 1, ports[17] + 1, ports[-1] + 1):
            assert verdict(fw, eth(ipv4("203.0.113.5", INSTANCE, 6, tcp(40101, p)))) == SHOT
    finally:
        firewall.update_group(GROUP)


def test_large_classes_are_looked_up_by_hash_per_prefix_length(fw: tuple[Firewall, str]) -> None:
    firewall = fw[0]
    # 300 IPv6 /64s and 300 /128s (two lengths), 300 IPv4 /27s: each class takes the hash path.
    big = [Rule("ingress", "tcp", (443, 443), f"2001:db9:1:{i:x}::/64") for i in range(300)]
    big += [Rule("ingress", "tcp", (8443, 8443), f"2001:db9:2::{i:x}/128") for i in range(300)]
    big += [
        Rule("ingress", "udp", (53, 53), f"198.18.{i // 8}.{(i % 8) * 32}/27") for i in range(300)
    ]
    firewall.update_group(SecurityGroup(GROUP.id, [*GROUP.rules, *big]))
    try:
        v6 = [
            ("2001:db9:1:12b::99", 443, OK),
            ("2001:db9:1:12b::99", 8443, SHOT),
            ("2001:db9:1:12c::1", 443, SHOT),  # 0x12c = 300: just past the last /64
            ("2001:db9:2::7", 8443, OK),
            ("2001:db9:2::7", 443, SHOT),
            ("2001:db9:2::12c", 8443, SHOT),
            ("2001:db8::10", 443, OK),  # still the /32 rule of GROUP
        ]
        for source, port, expected in v6:
            frame = eth(ipv6(source, INSTANCE6, 6, tcp(40200, port)), ETH_IP6)
            assert verdict(fw, frame) == expected, (source, port)
        assert verdict(fw, eth(ipv4("198.18.37.100", INSTANCE, 17, udp(1, 53)))) == OK
        assert verdict(fw, eth(ipv4("198.18.38.100", INSTANCE, 17, udp(1, 53)))) == SHOT
        assert verdict(fw, eth(ipv4("198.18.37.100", INSTANCE, 17, udp(1, 54)))) == SHOT
    finally:
        firewall.update_group(GROUP)
