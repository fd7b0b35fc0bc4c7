"""The filter benchmark's rule sets: the same rules, rendered for iptables and nftables."""

from __future__ import annotations

import ipaddress

import pytest

from bench.filter_rules import (
    IPTABLES_CHAIN,
    NFT_TABLE,
    iptables_cleanup,
    iptables_restore,
    nft_cleanup,
    nft_script,
    rule_set,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("count", [1, 2, 10, 1_000])
def test_only_the_middle_rule_matches_the_traffic(count: int) -> None:
    rules = rule_set(count, 5000)
    assert len(rules.rules) == count
    assert rules.matching_index == count // 2
    assert len({r.cidr for r in rules.rules}) == count
    sender = ipaddress.IPv4Address(rules.sender_ip)
    covering = [r for r in rules.rules if sender in ipaddress.IPv4Network(r.cidr)]
    assert covering == [rules.rules[count // 2]]
    assert covering[0].ports == (5000, 5000)


def test_rule_counts_outside_the_address_space_are_refused() -> None:
    with pytest.raises(ValueError, match="count must be in"):
        rule_set(0, 5000)


def test_iptables_renders_one_ordered_rule_per_allow_then_drop() -> None:
    rules = rule_set(3, 5000)
    script = iptables_restore(rules, "rout").splitlines()
    assert script[:3] == [
        "*filter",
        f":{IPTABLES_CHAIN} - [0:0]",
        f"-A FORWARD -o rout -j {IPTABLES_CHAIN}",
    ]
    body = [line for line in script if line.startswith(f"-A {IPTABLES_CHAIN} -s")]
    assert len(body) == 3
    assert body[1] == f"-A {IPTABLES_CHAIN} -s 100.64.0.16/28 -p udp --dport 5000 -j ACCEPT"
    assert script[-2:] == [f"-A {IPTABLES_CHAIN} -j DROP", "COMMIT"]
    assert ["iptables", "-X", IPTABLES_CHAIN] in iptables_cleanup("rout")


def test_nftables_renders_one_concatenated_interval_set() -> None:
    script = nft_script(rule_set(3, 5000), "rout")
    assert f"table inet {NFT_TABLE}" in script
    assert "type ipv4_addr . inet_service" in script and "flags interval" in script
    assert "100.64.0.16/28 . 5000" in script
    assert 'oifname "rout" ip saddr . udp dport @allow_udp4 accept' in script
    assert nft_cleanup() == ["nft", "delete", "table", "inet", NFT_TABLE]
