"""eBPF security groups: test-run ns per packet, and veth packets/s against iptables and nftables.

Part 1 (bench.filter_cost) times our Firewall's tc program with BPF_PROG_TEST_RUN at 10 to 100k
rules, next to empty XDP and tc programs and a bare LPM-trie lookup over the same CIDRs.
Part 2 (bench.filter_veth) sends UDP from a native sender in a namespace through a router
namespace filtering with nothing, ours, an iptables chain or an nftables set, at 10 to 10k
rules, and counts what reaches the receiver namespace (bench.filter_topology draws the paths).
Targets (issue 5): <= 60 ns per packet, flat from 10 to 100k rules; >= 5x iptables at 10k
rules; >= 1.0x nftables with sets.
"""

from __future__ import annotations

from bench import filter_cost, filter_veth
from bench.context import RunContext
from bench.results import BenchResult

NAME = "filter"
ANCHORS: tuple[str, ...] = ()
"""iptables and nftables are not Python distributions: their versions go into the notes."""


def run(ctx: RunContext) -> BenchResult:
    """Part 1 (test-run ns per packet), then part 2 (veth packets per second)."""
    result = BenchResult(NAME)
    filter_cost.add_cases(ctx, result)
    filter_veth.add_cases(ctx, result)
    return result
