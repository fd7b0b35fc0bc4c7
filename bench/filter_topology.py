"""The namespaces and veth pairs the filter benchmark sends packets through.

One sender namespace holds one veth per path. Each path continues into its own router namespace
(forwarding on, the filter under test installed there and nowhere else) and ends in its own
receiver namespace::

    sender ns            router ns (one per path)            receiver ns (one per path)
    s-<path> ======== rin [forward + filter] rout ======== din (counts rx packets)
                      10.77.1.1/24         10.77.2.1/24     no address: drops after counting

The sender crafts its frames (source addresses from the rule set under test, to 10.77.2.2), so
its interfaces need no address; the router forwards by destination (no reverse-path filter).

Every path is identical but for its filter, so paths can be measured one after the other in the
same run without installing and removing filters in between, and a filter never sees another
path's traffic. The receiver interface has no address: a packet that reaches it was forwarded
by the router (it passed the filter), is counted in rx_packets and dropped at the receiver's
routing step at the lowest possible cost, without ICMP replies.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

from pyroute2 import netns as pyroute2_netns

ROUTER_IN_IP: Final = "10.77.1.1/24"
ROUTER_OUT_IP: Final = "10.77.2.1/24"
RECEIVER_IP: Final = "10.77.2.2"
ROUTER_IN: Final = "rin"
ROUTER_OUT: Final = "rout"
RECEIVER_IF: Final = "din"
_NETNS_DIR: Final = "/run/netns"


@dataclass(frozen=True)
class NetPath:
    """One sender-router-receiver path."""

    name: str
    sender_ns: str
    sender_if: str
    sender_mac: str
    router_ns: str
    router_in_mac: str
    receiver_ns: str

    def delivered(self) -> int:
        """Packets the receiver interface has received so far."""
        shown = _ip("-n", self.receiver_ns, "-j", "-s", "link", "show", RECEIVER_IF)
        packets: int = json.loads(shown)[0]["stats64"]["rx"]["packets"]
        return packets


def _ip(*args: str) -> str:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def _run_quietly(command: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False)


def _mac(namespace: str, ifname: str) -> str:
    address: str = json.loads(_ip("-n", namespace, "-j", "link", "show", ifname))[0]["address"]
    return address


def run_in(namespace: str, command: Sequence[str], stdin: str | None = None) -> str:
    """Runs a command inside a namespace; fails loudly with its stderr."""
    done = subprocess.run(
        ["ip", "netns", "exec", namespace, *command],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} in {namespace}: {done.stderr.strip()}")
    return done.stdout


def _sysctl(namespace: str, *settings: str) -> None:
    run_in(namespace, ["sysctl", "-qw", *settings])


@contextmanager
def entered(namespace: str) -> Iterator[None]:
    """This thread inside a namespace for the block (netlink and attach calls act there)."""
    pyroute2_netns.pushns(namespace)
    try:
        yield
    finally:
        pyroute2_netns.popns()


@contextmanager
def veth_namespace(name: str, ifname: str) -> Iterator[str]:
    """A namespace holding one veth pair, ifname and its peer, both up; deleted after."""
    if os.path.exists(os.path.join(_NETNS_DIR, name)):
        raise RuntimeError(f"network namespace {name} exists: another run, or a leftover")
    _ip("netns", "add", name)
    try:
        _ip("-n", name, "link", "add", ifname, "type", "veth", "peer", "name", f"{ifname}p")
        for each in (ifname, f"{ifname}p"):
            _ip("-n", name, "link", "set", each, "up")
        yield name
    finally:
        _ip("netns", "del", name)


class Topology:
    """The namespaces of one benchmark run; `close` deletes all of them (and what is in them)."""

    def __init__(self, path_names: Sequence[str], tag: str | None = None) -> None:
        self.tag = tag or f"tcf{os.getpid()}"
        self.sender_ns = f"{self.tag}-snd"
        self._namespaces: list[str] = []
        self.paths: dict[str, NetPath] = {}
        try:
            self._add_namespace(self.sender_ns)
            for name in path_names:
                self.paths[name] = self._add_path(name)
        except BaseException:
            self.close()
            raise

    def _add_namespace(self, name: str) -> None:
        if os.path.exists(os.path.join(_NETNS_DIR, name)):
            raise RuntimeError(f"network namespace {name} exists: another run, or a leftover")
        _ip("netns", "add", name)
        self._namespaces.append(name)
        _sysctl(name, "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
        _ip("-n", name, "link", "set", "lo", "up")

    def _add_path(self, name: str) -> NetPath:
        router, receiver = f"{self.tag}-r{name}", f"{self.tag}-d{name}"
        self._add_namespace(router)
        self._add_namespace(receiver)
        return self._wire(name, f"s-{name}", router, receiver)

    def _wire(self, name: str, sender_if: str, router: str, receiver: str) -> NetPath:
        _ip(
            "link", "add", sender_if, "netns", self.sender_ns,
            "type", "veth", "peer", "name", ROUTER_IN, "netns", router,
        )  # fmt: skip
        _ip(
            "link", "add", ROUTER_OUT, "netns", router,
            "type", "veth", "peer", "name", RECEIVER_IF, "netns", receiver,
        )  # fmt: skip
        _ip("-n", self.sender_ns, "link", "set", sender_if, "up")
        for ifname in (ROUTER_IN, ROUTER_OUT):
            _ip("-n", router, "link", "set", ifname, "up")
        _ip("-n", receiver, "link", "set", RECEIVER_IF, "up")
        _ip("-n", router, "addr", "add", ROUTER_IN_IP, "dev", ROUTER_IN)
        _ip("-n", router, "addr", "add", ROUTER_OUT_IP, "dev", ROUTER_OUT)
        _sysctl(router, "net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0")
        _ip(
            "-n", router, "neigh", "replace", RECEIVER_IP,
            "lladdr", _mac(receiver, RECEIVER_IF), "dev", ROUTER_OUT, "nud", "permanent",
        )  # fmt: skip
        return NetPath(
            name=name,
            sender_ns=self.sender_ns,
            sender_if=sender_if,
            sender_mac=_mac(self.sender_ns, sender_if),
            router_ns=router,
            router_in_mac=_mac(router, ROUTER_IN),
            receiver_ns=receiver,
        )

    def close(self) -> None:
        """Deletes every namespace this topology made (their veths and filters go with them)."""
        errors = []
        for name in reversed(self._namespaces):
            done = _run_quietly(["ip", "netns", "del", name])
            if done.returncode != 0:
                errors.append(f"{name}: {done.stderr.strip()}")
        self._namespaces.clear()
        if errors:
            raise RuntimeError("could not delete namespaces: " + "; ".join(errors))

    def __enter__(self) -> Topology:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
