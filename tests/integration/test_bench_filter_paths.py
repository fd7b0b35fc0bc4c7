"""The filter benchmark's machinery on real namespaces: every filter it compares really filters.

Builds the benchmark's four paths, installs the same rules on each (ours, iptables, nftables,
none), sends allowed and denied frames with the native sender and counts what arrives; then
checks that nothing of the benchmark is left behind (namespaces, iptables chain, BPF programs).
"""

from __future__ import annotations

import os
import subprocess
import time
from contextlib import ExitStack

import pytest

from bench import filter_sender, filter_veth
from bench.filter_rules import rule_set
from bench.filter_topology import Topology
from thecloud.dataplane.bpf import syscall as bpf

pytestmark = pytest.mark.integration


def _namespaces() -> set[str]:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return {line.split()[0] for line in listed.stdout.splitlines() if line.strip()}


def test_every_path_passes_allowed_and_drops_denied_then_leaves_nothing() -> None:
    tag = f"tct{os.getpid()}"
    cpu = max(os.sched_getaffinity(0))
    with ExitStack() as stack:
        topology = stack.enter_context(Topology(filter_veth.MODES, tag=tag))
        installers = {}
        for mode in filter_veth.MODES:
            installers[mode] = filter_veth.installer_for(mode, topology.paths[mode])
            stack.callback(installers[mode].close)
        ours = installers["ours"]
        assert isinstance(ours, filter_veth.OursFilter)
        our_programs = {bpf.prog_info(fd).id for fd in ours.firewall.program_fds().values()}
        for count in (10, 200):
            rules = rule_set(count, filter_veth.PORT)
            for installer in installers.values():
                installer.install(rules)
            filter_veth.check_filters(
                topology.paths, rules.sender_ip, cpu
            )  # raises on any wrong count
        sent = filter_sender.send(
            topology.paths["ours"], rules.sender_ip, filter_veth.PORT, flows=4, cpu=cpu, count=1000
        )
        assert sent.packets == 1000
    assert not {name for name in _namespaces() if name.startswith(tag)}
    deadline = time.monotonic() + 2.0  # programs are freed after an RCU grace period
    while our_programs & {p.id for p in bpf.prog_ids()} and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not our_programs & {p.id for p in bpf.prog_ids()}
