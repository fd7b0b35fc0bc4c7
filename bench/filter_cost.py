"""Part 1 of the filter benchmark: our program's cost per packet by BPF_PROG_TEST_RUN.

Our Firewall is attached, in a scratch namespace, to a veth standing for an instance interface,
with one security group of N rules (bench.filter_rules); its `tc_ingress` program (towards the
instance) is run over three frames, each judged as on that interface:

- allowed: the traffic's allow rule matches. After the first run the flow is in the connection
  table, so this is the cost of an established flow (conntrack hit), what most packets pay;
- denied port: the source is in the allow rule's CIDR but the port is not allowed. No flow
  entry is ever made, so every run pays the whole lookup (conntrack miss, LPM walk to the
  rule's prefix, port ranges) and the deny: the rule lookup's cost;
- uncovered: no rule's CIDR holds the source (conntrack miss, short LPM walk, deny).

Anchors in the same run: empty XDP and tc programs, and the bare LPM program over the same
CIDRs (bench.filter_testrun).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Final

from bench import filter_testrun
from bench.context import RunContext
from bench.filter_rules import rule_set, security_group
from bench.filter_topology import RECEIVER_IP, entered, veth_namespace
from bench.results import BenchResult, Case, Target
from bench.stats import Stats
from thecloud.dataplane.bpf import Firewall, skb_context
from thecloud.dataplane.bpf import syscall as bpf

TARGET_NS: Final = 60.0
INTERFACE: Final = "fwt0"
GROUP_ID: Final = "sg-bench"
PORT: Final = 5000
DENIED_PORT: Final = 5001
UNCOVERED_SOURCE: Final = "198.51.100.7"
KINDS: Final = {
    "allowed": "allowed (established flow)",
    "denied_port": "denied port (full lookup)",
    "uncovered": "no rule covers the source",
}


@dataclass(frozen=True)
class Frames:
    """The test frames, by kind, for traffic from `source`."""

    allowed: bytes
    denied_port: bytes
    uncovered: bytes

    @classmethod
    def from_source(cls, source: str) -> Frames:
        return cls(
            allowed=filter_testrun.udp_frame(source, RECEIVER_IP, 10_000, PORT),
            denied_port=filter_testrun.udp_frame(source, RECEIVER_IP, 10_000, DENIED_PORT),
            uncovered=filter_testrun.udp_frame(UNCOVERED_SOURCE, RECEIVER_IP, 10_000, PORT),
        )


@contextmanager
def _attached_firewall(namespace: str) -> Iterator[Firewall]:
    with entered(namespace):
        firewall = Firewall()
    try:
        yield firewall
    finally:
        with entered(namespace):
            firewall.close()


def add_cases(ctx: RunContext, result: BenchResult) -> None:
    """Measures our program and its anchors at every rule count; adds the cases."""
    repeat = ctx.pick(1_000_000, 200_000)
    runs = ctx.repeat
    counts = ctx.pick((10, 1_000, 10_000, 100_000), (10, 100_000))
    _floors(result, repeat, runs)
    ours_by_count: dict[int, dict[str, Stats]] = {}
    with ExitStack() as stack:
        namespace = stack.enter_context(veth_namespace(f"tcf{os.getpid()}-cost", INTERFACE))
        firewall = stack.enter_context(_attached_firewall(namespace))
        prog = firewall.program_fds()["tc_ingress"]
        for count in counts:
            ctx.progress(f"test run: our program, {count:,} rules")
            rules = rule_set(count, PORT)
            frames = Frames.from_source(rules.sender_ip)
            group = security_group(GROUP_ID, rules, [RECEIVER_IP])
            began = time.perf_counter()
            with entered(namespace):
                if count == counts[0]:
                    firewall.attach(INTERFACE, [group], addresses=[RECEIVER_IP])
                else:
                    firewall.update_group(group)
                install_seconds = time.perf_counter() - began
                context = skb_context(firewall.ifindex(INTERFACE))
                ours = {
                    kind: filter_testrun.ns_per_packet(
                        prog,
                        getattr(frames, kind),
                        repeat=repeat,
                        runs=runs,
                        expect=bpf.TC_ACT_OK if kind == "allowed" else bpf.TC_ACT_SHOT,
                        ctx=context,
                    )
                    for kind in KINDS
                }
            ours_by_count[count] = ours
            lpm = _bare_lpm(frames, [r.cidr for r in rules.rules], repeat, runs)
            for i, (kind, label) in enumerate(KINDS.items()):
                result.add(
                    Case(
                        f"test run, {count:,} rules: {label}" if i == 0 else f"  {label}",
                        "ns",
                        ours[kind],
                        lpm[kind],
                        Target(TARGET_NS, "lower"),
                        note="anchor: the bare LPM program over the same CIDRs"
                        if i == 0 and count == counts[0]
                        else "",
                        details={"install_s": round(install_seconds, 4)} if i == 0 else {},
                    )
                )
    _add_growth_cases(result, ours_by_count[counts[0]], ours_by_count[counts[-1]], counts)
    result.notes.append(
        f"test runs: BPF_PROG_TEST_RUN of 60-byte UDP frames, {repeat:,} runs per sample, "
        f"{runs} samples, medians of the kernel's average ns per run; ours is tc_ingress "
        "judging as on an attached veth (skb_context), its verdict checked on every sample"
    )


def _add_growth_cases(
    result: BenchResult, first: dict[str, Stats], last: dict[str, Stats], counts: Sequence[int]
) -> None:
    """Our cost at the most rules over our cost at the fewest, per kind (flat is 1.0)."""
    for i, (kind, label) in enumerate(KINDS.items()):
        pairs = zip(first[kind].samples, last[kind].samples, strict=True)
        result.add(
            Case(
                f"test run growth {counts[0]:,} -> {counts[-1]:,} rules: {label}",
                "x",
                Stats.of([b / a for a, b in pairs]),
                note="flat is 1.0" if i == 0 else "",
            )
        )


def _floors(result: BenchResult, repeat: int, runs: int) -> None:
    frame = filter_testrun.udp_frame(UNCOVERED_SOURCE, RECEIVER_IP, 10_000, PORT)
    for prog_type, insns, expect, label in (
        (bpf.BPF_PROG_TYPE_XDP, filter_testrun.EMPTY_XDP, bpf.XDP_PASS, "XDP"),
        (bpf.BPF_PROG_TYPE_SCHED_CLS, filter_testrun.EMPTY_TC, bpf.TC_ACT_OK, "tc"),
    ):
        with filter_testrun.loaded(prog_type, insns, f"bench_empty_{label.lower()}") as fd:
            floor = filter_testrun.ns_per_packet(fd, frame, repeat=repeat, runs=runs, expect=expect)
        result.add(Case(f"test run: empty {label} program (floor)", "ns", floor))


def _bare_lpm(frames: Frames, cidrs: list[str], repeat: int, runs: int) -> dict[str, Stats]:
    with (
        filter_testrun.lpm_trie(cidrs) as trie,
        filter_testrun.loaded(
            bpf.BPF_PROG_TYPE_XDP, filter_testrun.lpm_lookup_xdp(trie), "bench_lpm"
        ) as fd,
    ):
        hit = filter_testrun.ns_per_packet(
            fd, frames.allowed, repeat=repeat, runs=runs, expect=bpf.XDP_PASS
        )
        miss = filter_testrun.ns_per_packet(
            fd, frames.uncovered, repeat=repeat, runs=runs, expect=bpf.XDP_DROP
        )
    # The bare program ignores ports: the denied-port frame walks the trie like the allowed one.
    return {"allowed": hit, "denied_port": hit, "uncovered": miss}
