"""The rule sets of the filter benchmark, and the same rules for iptables and nftables.

One list of (source CIDR, UDP port range) allow rules is rendered three ways: a security group
for our Firewall, an iptables chain (one rule per line, evaluated in order) and an nftables
table with one concatenated interval set. The rule the benchmark traffic matches sits in the
middle of the list: where a random rule of a linear chain is on average, and among neighbours
in an LPM trie.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from thecloud.dataplane.bpf import SecurityGroup, SecurityGroupRule

RULE_BASE: Final = int(ipaddress.IPv4Address("100.64.0.0"))
"""Rule i allows the i-th /28 of 100.64.0.0/10 (262,144 of them)."""
RULE_PREFIX: Final = 28
MAX_RULES: Final = 1 << (32 - 10 - (32 - RULE_PREFIX))
IPTABLES_CHAIN: Final = "TCF-BENCH"
NFT_TABLE: Final = "tcf_bench"


@dataclass(frozen=True)
class AllowRule:
    """Allow UDP from cidr to destination ports lo..hi."""

    cidr: str
    ports: tuple[int, int]


@dataclass(frozen=True)
class RuleSet:
    """count allow rules, one of which (at `matching_index`) allows the benchmark traffic."""

    rules: tuple[AllowRule, ...]
    matching_index: int

    @property
    def sender_ip(self) -> str:
        """The benchmark traffic's source: an address inside the matching rule's CIDR."""
        network = ipaddress.IPv4Network(self.rules[self.matching_index].cidr)
        return str(network.network_address + 2)


def rule_set(count: int, port: int) -> RuleSet:
    """count rules over consecutive /28s; the one at count // 2 allows UDP to `port`.

    The others allow single ports spread over 1024..60999. The traffic's source lies in the
    middle of the rules' address space, so an LPM lookup walks as deep as for any rule, and a
    linear chain evaluates half of its rules before the match.
    """
    if not 1 <= count <= MAX_RULES:
        raise ValueError(f"count must be in 1..{MAX_RULES}, got {count}")
    rules = []
    for i in range(count):
        network = ipaddress.IPv4Address(RULE_BASE + (i << (32 - RULE_PREFIX)))
        rule_port = port if i == count // 2 else 1024 + (i * 7919) % 60_000
        rules.append(AllowRule(f"{network}/{RULE_PREFIX}", (rule_port, rule_port)))
    return RuleSet(tuple(rules), count // 2)


def security_group(group_id: str, rules: RuleSet, members: Sequence[str]) -> SecurityGroup:
    """The rules as our security group: ingress (towards the members), UDP."""
    return SecurityGroup(
        group_id,
        [SecurityGroupRule("ingress", "udp", ports=r.ports, cidr=r.cidr) for r in rules.rules],
        members,
    )


def _ports(ports: tuple[int, int], separator: str) -> str:
    lo, hi = ports
    return str(lo) if lo == hi else f"{lo}{separator}{hi}"


def iptables_restore(rules: RuleSet, out_interface: str) -> str:
    """An iptables-restore --noflush script: a dedicated chain, jumped to from FORWARD for
    packets leaving out_interface, holding the rules in order and a final DROP."""
    lines = ["*filter", f":{IPTABLES_CHAIN} - [0:0]"]
    lines.append(f"-A FORWARD -o {out_interface} -j {IPTABLES_CHAIN}")
    lines += [
        f"-A {IPTABLES_CHAIN} -s {r.cidr} -p udp --dport {_ports(r.ports, ':')} -j ACCEPT"
        for r in rules.rules
    ]
    lines += [f"-A {IPTABLES_CHAIN} -j DROP", "COMMIT", ""]
    return "\n".join(lines)


def iptables_cleanup(out_interface: str) -> list[list[str]]:
    """The iptables commands that remove exactly what `iptables_restore` added."""
    return [
        ["iptables", "-D", "FORWARD", "-o", out_interface, "-j", IPTABLES_CHAIN],
        ["iptables", "-F", IPTABLES_CHAIN],
        ["iptables", "-X", IPTABLES_CHAIN],
    ]


def nft_script(rules: RuleSet, out_interface: str) -> str:
    """An nft -f script: table inet tcf_bench with the rules as one `ip saddr . udp dport`
    interval set, looked up once per packet in a forward-hook chain, then a DROP."""
    elements = ",\n    ".join(f"{r.cidr} . {_ports(r.ports, '-')}" for r in rules.rules)
    return f"""table inet {NFT_TABLE} {{
  set allow_udp4 {{
    type ipv4_addr . inet_service
    flags interval
    elements = {{
    {elements}
    }}
  }}
  chain forward {{
    type filter hook forward priority filter; policy accept;
    oifname "{out_interface}" ip saddr . udp dport @allow_udp4 accept
    oifname "{out_interface}" drop
  }}
}}
"""


def nft_cleanup() -> list[str]:
    """The nft command that removes exactly what `nft_script` added."""
    return ["nft", "delete", "table", "inet", NFT_TABLE]
