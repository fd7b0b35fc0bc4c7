"""The firewall on real traffic: namespaces on a bridge, ping, TCP and UDP from real sockets.

The instance's host-side veth carries the firewall; "remote" is another namespace on the same
bridge. One Firewall (one bcc compile) serves the module; each test builds its own lab and
detaches in teardown.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import pytest

from tests.integration.bpf_netns import Host, Lab, sh
from thecloud.dataplane.bpf import AclRule as Acl
from thecloud.dataplane.bpf import DdosGuard, Firewall, NetworkAcl, SecurityGroup
from thecloud.dataplane.bpf import SecurityGroupRule as Rule
from thecloud.dataplane.metrics import Registry

pytestmark = pytest.mark.integration

LAN = "10.77.0.0/24"
LAN6 = "fd77::/64"


@pytest.fixture(scope="module")
def metrics() -> Registry:
    return Registry()


@pytest.fixture(scope="module")
def firewall(metrics: Registry) -> Iterator[Firewall]:
    with Firewall(metrics=metrics) as fw:
        yield fw


@pytest.fixture
def lab(firewall: Firewall) -> Iterator[tuple[Lab, Host, Host]]:
    lab = Lab()
    try:
        instance, remote = lab.host("i", 2), lab.host("r", 3)
        for host in (instance, remote):
            host.serve(22, 80, 443, 5432, 7001, 7002, 7003)
        yield lab, instance, remote
    finally:
        for ifname in [h.host_if for h in lab.hosts]:
            with contextlib.suppress(LookupError):
                firewall.detach(ifname)
        lab.close()


def test_security_group_allows_exactly_its_rules(
    firewall: Firewall, lab: tuple[Lab, Host, Host], metrics: Registry
) -> None:
    _, instance, remote = lab
    group = SecurityGroup(
        "sg-web",
        [
            Rule("ingress", "tcp", (22, 22), LAN),
            Rule("ingress", "tcp", (440, 450), "0.0.0.0/0"),
            Rule("ingress", "udp", (7001, 7001), f"{remote.v4}/32"),
            Rule("ingress", "icmp", None, LAN),
        ],
    )
    firewall.attach(instance.host_if, [group], addresses=[instance.v4])
    assert remote.tcp(instance.v4, 22)
    assert remote.tcp(instance.v4, 443)
    assert not remote.tcp(instance.v4, 80)
    assert remote.udp(instance.v4, 7001)
    assert not remote.udp(instance.v4, 7002)
    assert remote.ping(instance.v4)
    # No egress rules: the instance cannot open anything.
    assert not instance.tcp(remote.v4, 80)
    assert not instance.ping(remote.v4)
    counts = firewall.stats()["groups"]["sg-web"]
    assert counts[0]["allowed"] >= 1 and counts[1]["allowed"] >= 1
    assert counts[2]["packets"] >= 1 and counts[3]["packets"] >= 1
    text = metrics.render().decode()
    assert 'thecloud_firewall_rule_allowed_total{kind="security_group",owner="sg-web"}' in text


def test_return_traffic_passes_and_unsolicited_inbound_is_dropped(
    firewall: Firewall, lab: tuple[Lab, Host, Host]
) -> None:
    _, instance, remote = lab
    group = SecurityGroup(
        "sg-out",
        [
            Rule("egress", "tcp", (443, 443), "0.0.0.0/0"),
            Rule("egress", "udp", (7001, 7001), LAN),
            Rule("egress", "icmp", None, "0.0.0.0/0"),
        ],
    )
    firewall.attach(instance.host_if, [group], addresses=[instance.v4])
    assert instance.tcp(remote.v4, 443)  # SYN out, SYN-ACK back through conntrack
    assert instance.udp(remote.v4, 7001)  # the echo comes back
    assert instance.ping(remote.v4)
    assert not instance.tcp(remote.v4, 80)
    # Nothing may come in unasked, not even from the port we talked to.
    assert not remote.tcp(instance.v4, 443)
    assert not remote.udp(instance.v4, 7001)
    assert not remote.ping(instance.v4)
    glob = firewall.stats()["global"]
    assert glob["conntrack_hit"] >= 3
    assert glob["group_deny"] >= 3


def test_an_instance_cannot_send_from_an_address_it_was_not_given(
    firewall: Firewall, lab: tuple[Lab, Host, Host]
) -> None:
    _, instance, remote = lab
    group = SecurityGroup("sg-ping", [Rule("egress", "icmp", None, LAN)])
    firewall.attach(instance.host_if, [group], addresses=[instance.v4])
    spoofed = "10.77.0.99"
    sh("ip", "netns", "exec", instance.ns, "ip", "addr", "add", f"{spoofed}/24", "dev", "eth0")
    ping = ("ip", "netns", "exec", instance.ns, "ping", "-c1", "-W1", "-q", "-I")
    assert sh(*ping, instance.v4, remote.v4, check=False).returncode == 0
    assert sh(*ping, spoofed, remote.v4, check=False).returncode != 0
    assert firewall.stats()["global"]["spoofed_source"] >= 1


def test_network_acl_first_match_wins(firewall: Firewall, lab: tuple[Lab, Host, Host]) -> None:
    _, instance, remote = lab
    group = SecurityGroup("sg-acl", [Rule("ingress", "tcp", None, LAN)])
    acl = NetworkAcl(
        "acl-sub",
        [
            Acl(200, "allow", "ingress", "tcp", LAN),
            Acl(100, "deny", "ingress", "tcp", f"{remote.v4}/32", (22, 22)),
            Acl(100, "allow", "egress", "all", "0.0.0.0/0"),
        ],
    )
    firewall.attach(instance.host_if, [group], acl, addresses=[instance.v4])
    assert not remote.tcp(instance.v4, 22)  # 100 deny comes before 200 allow
    assert remote.tcp(instance.v4, 80)
    reordered = NetworkAcl(
        "acl-sub",
        [
            Acl(50, "allow", "ingress", "tcp", LAN),
            Acl(100, "deny", "ingress", "tcp", f"{remote.v4}/32", (22, 22)),
            Acl(100, "allow", "egress", "all", "0.0.0.0/0"),
        ],
    )
    firewall.set_acl(instance.host_if, reordered)
    assert remote.tcp(instance.v4, 22)
    # The ACL is stateless: without the egress allow, replies die even for allowed flows.
    firewall.set_acl(
        instance.host_if, NetworkAcl("acl-in", [Acl(1, "allow", "ingress", "all", LAN)])
    )
    assert not remote.tcp(instance.v4, 80)
    stats = firewall.stats()["acls"]["acl-sub"]
    assert any(r["number"] == 100 and r["denied"] >= 1 for r in stats)


def test_ipv6(firewall: Firewall, lab: tuple[Lab, Host, Host]) -> None:
    _, instance, remote = lab
    group = SecurityGroup(
        "sg-v6",
        [
            Rule("ingress", "tcp", (22, 22), LAN6),
            Rule("ingress", "icmpv6", None, LAN6),
            Rule("egress", "udp", (7002, 7002), "::/0"),
        ],
    )
    firewall.attach(instance.host_if, [group], addresses=[instance.v6])
    assert remote.tcp(instance.v6, 22)
    assert not remote.tcp(instance.v6, 80)
    assert remote.ping(instance.v6)
    assert instance.udp(remote.v6, 7002)
    assert not instance.udp(remote.v6, 7001)
    # IPv4 has no rule at all.
    assert not remote.tcp(instance.v4, 22)


def test_group_reference_follows_membership(
    firewall: Firewall, lab: tuple[Lab, Host, Host]
) -> None:
    lab_, instance, remote = lab
    other = lab_.host("o", 4)
    other.serve(5432)
    talk = [Rule("egress", "tcp", (5432, 5432), LAN)]
    db = SecurityGroup("sg-db", [Rule("ingress", "tcp", (5432, 5432), source_group="sg-app")])
    firewall.update_group(SecurityGroup("sg-app", talk, members=[]))
    firewall.attach(instance.host_if, [db], addresses=[instance.v4])
    assert not remote.tcp(instance.v4, 5432)
    firewall.update_group(SecurityGroup("sg-app", talk, members=[remote.v4]))
    assert remote.tcp(instance.v4, 5432)
    assert not other.tcp(instance.v4, 5432)
    # An interface attached with sg-app makes its address a member too.
    app = SecurityGroup("sg-app", talk, members=[remote.v4])
    firewall.attach(other.host_if, [app], addresses=[other.v4])
    assert other.tcp(instance.v4, 5432)
    firewall.update_group(SecurityGroup("sg-app", talk, members=[]))
    assert not remote.tcp(instance.v4, 5432)
    assert other.tcp(instance.v4, 5432)


def test_flipping_rule_sets_under_traffic_never_passes_what_neither_allows(
    firewall: Firewall, lab: tuple[Lab, Host, Host]
) -> None:
    _, instance, remote = lab
    set_a = SecurityGroup("sg-flip-a", [Rule("ingress", "udp", (7001, 7001), LAN)])
    set_b = SecurityGroup("sg-flip-b", [Rule("ingress", "udp", (7002, 7002), LAN)])
    firewall.attach(instance.host_if, [set_a], addresses=[instance.v4])
    before = firewall.stats()
    sent: list[int] = []
    sender = threading.Thread(
        target=lambda: sent.append(
            remote.call(
                "udp_stream",
                addr=instance.v4,
                ports=[7001, 7002, 7003],
                rounds=400,
                gap=0.001,
                sport=20000,
            )
        )
    )
    sender.start()
    flips = 0
    while sender.is_alive():
        firewall.attach(
            instance.host_if, [set_b if flips % 2 == 0 else set_a], addresses=[instance.v4]
        )
        flips += 1
        time.sleep(0.005)
    sender.join()
    assert sent == [1200]
    assert flips >= 4
    time.sleep(0.2)
    received = {int(k): v for k, v in instance.call("udp_counts").items()}
    after = firewall.stats()
    assert received.get(7003, 0) == 0
    assert received.get(7001, 0) > 0 and received.get(7002, 0) > 0
    allowed = sum(
        after["groups"][g][0]["allowed"] - before["groups"].get(g, [{"allowed": 0}])[0]["allowed"]
        for g in ("sg-flip-a", "sg-flip-b")
    )
    delivered = received.get(7001, 0) + received.get(7002, 0)
    # Every delivered datagram was allowed by one of the two rules, none fell between
    # generations, and the rules never allowed more than was sent to their ports.
    assert delivered <= allowed <= 800
    assert after["global"]["no_interface"] == before["global"]["no_interface"]


def test_detach_removes_filtering(firewall: Firewall, lab: tuple[Lab, Host, Host]) -> None:
    _, instance, remote = lab
    firewall.attach(instance.host_if, [SecurityGroup("sg-none", [])])
    assert not remote.tcp(instance.v4, 22)
    firewall.detach(instance.host_if)
    assert remote.tcp(instance.v4, 22)
    out = sh("tc", "filter", "show", "dev", instance.host_if, "ingress", check=False).stdout
    assert "tcfw" not in out


def test_ddos_guard_limits_a_udp_flood_per_source(
    firewall: Firewall, lab: tuple[Lab, Host, Host]
) -> None:
    _, instance, remote = lab
    before = firewall.stats()["global"]["guard_udp_drop"]
    firewall.attach_guard(remote.host_if, DdosGuard(udp_rate=10, udp_burst=5))
    try:
        sent = remote.call(
            "udp_stream", addr=instance.v4, ports=[7003], rounds=300, gap=0, sport=30000
        )
        time.sleep(0.2)
        got = instance.call("udp_counts").get("7003", 0)
        assert sent == 300
        assert 5 <= got <= 40, got
        assert firewall.stats()["global"]["guard_udp_drop"] - before >= 250
    finally:
        firewall.detach_guard(remote.host_if)
    sent = remote.call("udp_stream", addr=instance.v4, ports=[7002], rounds=50, gap=0, sport=31000)
    time.sleep(0.2)
    assert instance.call("udp_counts").get("7002", 0) == 50
