"""The native traffic source of the filter benchmark (native/bpf/bench/packet_sender.c).

Compiled with cc into build/bench/ the first time it is needed (and again when the source
changes), then run inside the sender namespace, pinned to one CPU.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from bench.filter_topology import RECEIVER_IP, NetPath

REPO: Final = Path(__file__).resolve().parents[1]
SOURCE: Final = REPO / "native" / "bpf" / "bench" / "packet_sender.c"
BINARY: Final = REPO / "build" / "bench" / "packet_sender"
_OUTPUT: Final = re.compile(r"^sent (\d+) seconds ([\d.]+) oncpu ([\d.]+) errors (\d+)$")


@dataclass(frozen=True)
class Sent:
    """What one sender run reports."""

    packets: int
    seconds: float
    on_cpu_seconds: float
    """Time the sender held its CPU, with the softirq work run in its context (not preempted)."""
    failed_calls: int
    """sendmmsg calls refused with ENOBUFS/EAGAIN (retried)."""


def build() -> Path:
    """The sender binary, compiled now if it is missing or older than its source."""
    if BINARY.exists() and BINARY.stat().st_mtime >= SOURCE.stat().st_mtime:
        return BINARY
    compiler = shutil.which("cc")
    if compiler is None:
        raise RuntimeError(
            "the filter benchmark compiles its packet sender with cc (apt build-essential)"
        )
    BINARY.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [compiler, "-O2", "-Wall", "-Wextra", "-Werror", "-o", str(BINARY), str(SOURCE)],
        check=True,
    )
    return BINARY


def send(
    path: NetPath,
    source: str,
    dport: int,
    *,
    flows: int,
    cpu: int,
    seconds: float | None = None,
    count: int | None = None,
) -> Sent:
    """Sends UDP frames from `source` down a path, for a duration or a number of packets."""
    if (seconds is None) == (count is None):
        raise ValueError("give exactly one of seconds and count")
    limit = ["-t", f"{seconds}"] if seconds is not None else ["-n", str(count)]
    command = ["ip", "netns", "exec", path.sender_ns, str(build()), path.sender_if]
    command += [path.sender_mac, path.router_in_mac, source, RECEIVER_IP]
    command += [str(dport), str(flows), str(cpu), *limit]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    match = _OUTPUT.match(done.stdout.strip())
    if done.returncode != 0 or match is None:
        raise RuntimeError(f"packet_sender failed ({done.returncode}): {done.stderr.strip()}")
    return Sent(int(match[1]), float(match[2]), float(match[3]), int(match[4]))
