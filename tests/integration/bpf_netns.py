"""A small lab for the BPF firewall tests: network namespaces on a bridge, each with an agent.

Every host is a namespace whose eth0 is one end of a veth pair; the other end (in the root
namespace, where the firewall attaches) is a port of the lab's bridge. Each host runs an agent
(a Python process inside the namespace) that opens sockets on request, so tests drive real TCP
and UDP traffic without starting a process per connection.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from dataclasses import dataclass, field
from typing import Any, Final

AGENT: Final = r"""
import json, socket, sys, threading, time
counts = {}
lock = threading.Lock()

def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET

def serve_tcp(port, fam):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", port))
    s.listen(64)
    def loop():
        while True:
            c, _ = s.accept()
            try:
                c.sendall(b"hi")
            finally:
                c.close()
    threading.Thread(target=loop, daemon=True).start()

def serve_udp(port, fam):
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", port))
    def loop():
        while True:
            data, peer = s.recvfrom(2048)
            with lock:
                counts[port] = counts.get(port, 0) + 1
            s.sendto(data, peer)
    threading.Thread(target=loop, daemon=True).start()

def connect_tcp(addr, port, timeout):
    s = socket.socket(family(addr), socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((addr, port))
        return s.recv(2) == b"hi"
    except OSError:
        return False
    finally:
        s.close()

def udp_roundtrip(addr, port, timeout):
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(b"ping", (addr, port))
        return s.recvfrom(64)[0] == b"ping"
    except OSError:
        return False
    finally:
        s.close()

def udp_stream(addr, ports, rounds, gap, sport):
    # A fresh source port per datagram: every packet is a new flow, judged by the rules
    # (kernel-chosen ephemeral ports repeat, and a repeat would ride the earlier flow's state).
    sent = 0
    for _ in range(rounds):
        for port in ports:
            s = socket.socket(family(addr), socket.SOCK_DGRAM)
            s.bind(("", sport + sent))
            s.sendto(b"x", (addr, port))
            s.close()
            sent += 1
        if gap:
            time.sleep(gap)
    return sent

for line in sys.stdin:
    req = json.loads(line)
    op = req["op"]
    if op == "listen_tcp":
        serve_tcp(req["port"], socket.AF_INET6); out = True
    elif op == "listen_udp":
        serve_udp(req["port"], socket.AF_INET6); out = True
    elif op == "connect_tcp":
        out = connect_tcp(req["addr"], req["port"], req["timeout"])
    elif op == "udp_roundtrip":
        out = udp_roundtrip(req["addr"], req["port"], req["timeout"])
    elif op == "udp_stream":
        out = udp_stream(req["addr"], req["ports"], req["rounds"], req["gap"], req["sport"])
    elif op == "udp_counts":
        with lock:
            out = {str(k): v for k, v in counts.items()}
    else:
        out = None
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
"""


def sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Runs a command, capturing its output."""
    return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=30)


@dataclass
class Host:
    """A namespace on the lab bridge, with its agent."""

    ns: str
    host_if: str
    v4: str
    v6: str
    agent: subprocess.Popen[str]

    def call(self, op: str, **args: Any) -> Any:
        """Sends one request to the agent and returns its answer."""
        assert self.agent.stdin is not None and self.agent.stdout is not None
        self.agent.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.agent.stdin.flush()
        line = self.agent.stdout.readline()
        if not line:
            raise RuntimeError(f"agent in {self.ns} died")
        return json.loads(line)

    def ping(self, addr: str) -> bool:
        """One ping with a 1 s deadline."""
        cmd = ["ip", "netns", "exec", self.ns, "ping", "-c1", "-W1", "-q", addr]
        return sh(*cmd, check=False).returncode == 0

    def tcp(self, addr: str, port: int, timeout: float = 0.5) -> bool:
        """Whether a TCP connection to addr:port completes and greets us."""
        return bool(self.call("connect_tcp", addr=addr, port=port, timeout=timeout))

    def udp(self, addr: str, port: int, timeout: float = 0.5) -> bool:
        """Whether a UDP datagram to addr:port comes back (the peer echoes)."""
        return bool(self.call("udp_roundtrip", addr=addr, port=port, timeout=timeout))

    def serve(self, *ports: int) -> None:
        """Listens on these TCP and UDP ports (dual-stack)."""
        for port in ports:
            self.call("listen_tcp", port=port)
            self.call("listen_udp", port=port)


@dataclass
class Lab:
    """Namespaces on one bridge; `close` removes everything it created."""

    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:5])
    hosts: list[Host] = field(default_factory=list)
    bridge: str = ""

    def __post_init__(self) -> None:
        self.bridge = f"fwb{self.tag}"
        sh("ip", "link", "add", self.bridge, "type", "bridge")
        sh("ip", "link", "set", self.bridge, "up")

    def host(self, name: str, number: int) -> Host:
        """A new namespace with 10.77.0.<number>/24 and fd77::<number>/64 (no DAD)."""
        ns = f"fw{self.tag}{name}"
        host_if = f"fw{self.tag}{name}h"
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", "eth0", "netns", ns)
        sh("ip", "link", "set", host_if, "master", self.bridge, "up")
        v4, v6 = f"10.77.0.{number}", f"fd77::{number}"
        for cmd in (
            ("ip", "addr", "add", f"{v4}/24", "dev", "eth0"),
            ("ip", "addr", "add", f"{v6}/64", "dev", "eth0", "nodad"),
            ("ip", "link", "set", "eth0", "up"),
            ("ip", "link", "set", "lo", "up"),
        ):
            sh("ip", "netns", "exec", ns, *cmd)
        agent = subprocess.Popen(
            ["ip", "netns", "exec", ns, "python3", "-u", "-c", AGENT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        host = Host(ns=ns, host_if=host_if, v4=v4, v6=v6, agent=agent)
        self.hosts.append(host)
        return host

    def close(self) -> None:
        """Stops the agents, deletes namespaces, veths and the bridge."""
        for host in self.hosts:
            if host.agent.stdin is not None:
                host.agent.stdin.close()
            host.agent.kill()
            host.agent.wait()
            if host.agent.stdout is not None:
                host.agent.stdout.close()
            sh("ip", "link", "del", host.host_if, check=False)
            sh("ip", "netns", "del", host.ns, check=False)
        sh("ip", "link", "del", self.bridge, check=False)
