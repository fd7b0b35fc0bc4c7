"""Part 2 of the filter benchmark: forwarded packets per second, ours against iptables and nftables.

Four identical paths (bench.filter_topology) differ only in the filter at the router's interface
towards the receiver: none; ours (Firewall, tc on that veth); iptables (a linear chain jumped to
from FORWARD); nftables (one concatenated interval set). Each holds the same N rules
(bench.filter_rules), the traffic's allow rule in the middle. The native sender
(bench.filter_sender) sends 60-byte UDP frames of 1,024 flows down each path in turn, pinned to
one CPU; everything a frame causes (forwarding, filtering, the receiver) runs in softirq on that
CPU, so the delivered rate is one core's throughput through the whole path. Paths are measured
in rotating order within each repetition. Ratios are taken per repetition from packets per
second the sender held its CPU (the same work, without the time other processes took it away).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Final

from bench import filter_sender
from bench.context import RunContext
from bench.filter_installers import (
    FilterInstaller,
    IptablesFilter,
    NftablesFilter,
    NoFilter,
    OursFilter,
    tool_version,
)
from bench.filter_rules import rule_set
from bench.filter_topology import NetPath, Topology
from bench.results import BenchResult, Case, Detail, Target
from bench.stats import Stats

PORT: Final = 5000
DENIED_PORT: Final = 5001
FLOWS: Final = 1024
CHECK_PACKETS: Final = 300
TARGET_VS_IPTABLES: Final = 5.0
TARGET_VS_NFTABLES: Final = 1.0
MODES: Final = ("none", "ours", "iptables", "nftables")


def installer_for(mode: str, path: NetPath) -> FilterInstaller:
    """The installer of a mode, for its path's router namespace."""
    kinds: dict[str, type[NoFilter | OursFilter | IptablesFilter | NftablesFilter]] = {
        "none": NoFilter,
        "ours": OursFilter,
        "iptables": IptablesFilter,
        "nftables": NftablesFilter,
    }
    return kinds[mode](path.router_ns)


def _delivered(path: NetPath, source: str, dport: int, count: int, cpu: int) -> int:
    before = path.delivered()
    filter_sender.send(path, source, dport, flows=FLOWS, cpu=cpu, count=count)
    return path.delivered() - before


def check_filters(paths: dict[str, NetPath], source: str, cpu: int) -> None:
    """Allowed traffic arrives on every path; denied traffic only where nothing filters.

    A rate measured through a filter that does not filter would be meaningless.
    """
    for mode, path in paths.items():
        allowed = _delivered(path, source, PORT, CHECK_PACKETS, cpu)
        denied = _delivered(path, source, DENIED_PORT, CHECK_PACKETS, cpu)
        expected_denied = CHECK_PACKETS if mode == "none" else 0
        if allowed != CHECK_PACKETS or denied != expected_denied:
            raise RuntimeError(
                f"{mode}: {allowed} of {CHECK_PACKETS} allowed packets and {denied} denied ones "
                f"arrived (expected {CHECK_PACKETS} and {expected_denied})"
            )


@dataclass(frozen=True)
class Rate:
    """One run's delivered packets per wall-clock second and per second the sender was on CPU."""

    wall: float
    on_cpu: float
    """Immune to the sender being preempted: the softirq work of forwarding, filtering and
    delivery runs in its context and counts in its CPU time (/proc/thread-self/schedstat)."""


def _rates(
    ctx: RunContext, paths: dict[str, NetPath], source: str, seconds: float, cpu: int
) -> dict[str, list[Rate]]:
    """Every path's delivered rates, ctx.repeat times, in rotating order."""
    rates: dict[str, list[Rate]] = {mode: [] for mode in paths}
    modes = list(paths)
    for rep in range(ctx.repeat):
        ctx.progress(f"veth: repetition {rep + 1}/{ctx.repeat}")
        for mode in modes[rep % len(modes) :] + modes[: rep % len(modes)]:
            path = paths[mode]
            before = path.delivered()
            sent = filter_sender.send(path, source, PORT, flows=FLOWS, cpu=cpu, seconds=seconds)
            delivered = path.delivered() - before
            rates[mode].append(Rate(delivered / sent.seconds, delivered / sent.on_cpu_seconds))
    return rates


def _ratio(ours: Sequence[Rate], other: Sequence[Rate], field: str) -> Stats:
    return Stats.of(
        [getattr(o, field) / getattr(a, field) for o, a in zip(ours, other, strict=True)]
    )


def add_cases(ctx: RunContext, result: BenchResult) -> None:
    """Measures every path at every rule count; adds the cases."""
    filter_sender.build()
    cpu = max(os.sched_getaffinity(0))
    seconds = ctx.pick(2.0, 0.3)
    counts = ctx.pick((10, 1_000, 10_000), (10, 10_000))
    with ExitStack() as stack:
        ctx.progress("veth: namespaces")
        topology = stack.enter_context(Topology(MODES))
        installers = {}
        for mode in MODES:
            installers[mode] = installer_for(mode, topology.paths[mode])
            stack.callback(installers[mode].close)
        for count in counts:
            rules = rule_set(count, PORT)
            ctx.progress(f"veth: installing {count:,} rules")
            install_seconds = {mode: installers[mode].install(rules) for mode in MODES}
            check_filters(topology.paths, rules.sender_ip, cpu)
            rates = _rates(ctx, topology.paths, rules.sender_ip, seconds, cpu)
            _add_veth_cases(result, count, rates, install_seconds)
    result.notes.append(
        f"veth: {ctx.repeat} repetitions of {seconds:g} s per path and rule count, sender on CPU "
        f"{cpu}, {FLOWS} UDP flows, 60-byte frames; each rule set checked first (allowed "
        f"packets arrive, denied ones do not); the traffic's allow rule is the middle one; "
        "iptables and nftables rules are stateless (no conntrack: their fastest form), ours "
        "tracks flows, so after each flow's first packet it takes the established-flow path; "
        "pkt/s are per wall-clock second; ratios are per repetition and per second the sender "
        "held its CPU (the whole path runs there in softirq), which preemption by other work "
        "does not distort (the wall-clock ratio is in each ratio's details); "
        f"{tool_version('iptables')}; {tool_version('nft')}"
    )


def _add_veth_cases(
    result: BenchResult,
    count: int,
    rates: dict[str, list[Rate]],
    install_seconds: dict[str, float],
) -> None:
    wall = {mode: Stats.of([r.wall for r in samples]) for mode, samples in rates.items()}
    ours = wall["ours"]
    details: dict[str, Detail] = {
        f"install_s_{mode}": round(s, 4) for mode, s in install_seconds.items()
    }
    for mode, samples in rates.items():
        details[f"on_cpu_pps_{mode}"] = round(Stats.of([r.on_cpu for r in samples]).median)
    result.add(
        Case(
            f"veth UDP, {count:,} rules: ours vs iptables",
            "pkt/s",
            ours,
            wall["iptables"],
            better="higher",
            details=details,
        )
    )
    _add_ratio(result, "iptables", rates, TARGET_VS_IPTABLES if count >= 10_000 else None)
    result.add(Case("  ours vs nftables sets", "pkt/s", ours, wall["nftables"], better="higher"))
    _add_ratio(result, "nftables", rates, TARGET_VS_NFTABLES)
    result.add(Case("  ours vs no filter", "pkt/s", ours, wall["none"], better="higher"))


def _add_ratio(
    result: BenchResult, anchor: str, rates: dict[str, list[Rate]], target: float | None
) -> None:
    wall = _ratio(rates["ours"], rates[anchor], "wall")
    result.add(
        Case(
            f"  ours / {anchor}, per on-CPU second",
            "x",
            _ratio(rates["ours"], rates[anchor], "on_cpu"),
            target=None if target is None else Target(target, "higher"),
            better="higher",
            details={"wall_clock_ratio": round(wall.median, 3)},
        )
    )
