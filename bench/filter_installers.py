"""The four filters the benchmark compares, each installed in its own path's router namespace.

Each installer puts a rule set in force at the router's interface towards the receiver
(`ROUTER_OUT`), replaces it with another on the next `install`, and removes exactly what it
added on `close`: a dedicated iptables chain, a dedicated nftables table, our Firewall (which
unloads its programs). The namespaces themselves are deleted by the topology afterwards.
"""

from __future__ import annotations

import subprocess
import time
from abc import ABC, abstractmethod
from typing import Final, Protocol

from bench.filter_rules import (
    RuleSet,
    iptables_cleanup,
    iptables_restore,
    nft_cleanup,
    nft_script,
    security_group,
)
from bench.filter_topology import RECEIVER_IP, ROUTER_OUT, entered, run_in
from thecloud.dataplane.bpf import Firewall

GROUP_ID: Final = "sg-bench"


class FilterInstaller(Protocol):
    """Puts rule sets in force on one path's router, and removes them."""

    name: str

    def install(self, rules: RuleSet) -> float:
        """Replaces the rules in force with these; returns the seconds it took."""
        ...

    def close(self) -> None:
        """Removes everything install added."""
        ...


class NoFilter:
    """The ceiling: the router forwards with nothing installed."""

    name = "none"

    def __init__(self, router_ns: str) -> None:
        self.router_ns = router_ns

    def install(self, rules: RuleSet) -> float:
        return 0.0

    def close(self) -> None:
        pass


class _CommandFilter(ABC):
    """A filter put in force and removed by commands run in the router namespace; a new rule
    set replaces the old by removing it first, and the time taken counts both."""

    def __init__(self, router_ns: str) -> None:
        self.router_ns = router_ns
        self._installed = False

    def install(self, rules: RuleSet) -> float:
        began = time.perf_counter()
        self.close()
        self._apply(rules)
        self._installed = True
        return time.perf_counter() - began

    def close(self) -> None:
        if self._installed:
            self._remove()
            self._installed = False

    @abstractmethod
    def _apply(self, rules: RuleSet) -> None:
        """Puts `rules` in force."""

    @abstractmethod
    def _remove(self) -> None:
        """Removes what `_apply` put in force."""


class IptablesFilter(_CommandFilter):
    """A linear iptables chain jumped to from FORWARD (iptables-restore --noflush)."""

    name = "iptables"

    def _apply(self, rules: RuleSet) -> None:
        script = iptables_restore(rules, ROUTER_OUT)
        run_in(self.router_ns, ["iptables-restore", "--noflush"], stdin=script)

    def _remove(self) -> None:
        for command in iptables_cleanup(ROUTER_OUT):
            run_in(self.router_ns, command)


class NftablesFilter(_CommandFilter):
    """An nftables table: one concatenated interval set, one lookup per packet."""

    name = "nftables"

    def _apply(self, rules: RuleSet) -> None:
        run_in(self.router_ns, ["nft", "-f", "-"], stdin=nft_script(rules, ROUTER_OUT))

    def _remove(self) -> None:
        run_in(self.router_ns, nft_cleanup())


class OursFilter:
    """Our Firewall attached to the router's interface towards the receiver (the instance)."""

    name = "ours"

    def __init__(self, router_ns: str) -> None:
        self.router_ns = router_ns
        with entered(router_ns):
            self.firewall = Firewall()
        self._attached = False

    def install(self, rules: RuleSet) -> float:
        group = security_group(GROUP_ID, rules, [RECEIVER_IP])
        began = time.perf_counter()
        with entered(self.router_ns):
            if self._attached:
                self.firewall.update_group(group)
            else:
                self.firewall.attach(ROUTER_OUT, [group], addresses=[RECEIVER_IP])
                self._attached = True
        return time.perf_counter() - began

    def close(self) -> None:
        with entered(self.router_ns):
            self.firewall.close()


def tool_version(command: str) -> str:
    """`command --version`'s first line (iptables names its backend there)."""
    done = subprocess.run([command, "--version"], capture_output=True, text=True, check=True)
    return done.stdout.strip().splitlines()[0]
