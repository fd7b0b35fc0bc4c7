"""Child processes of ``python -m bench lb``: start pinned, wait for the port, CPU, stop.

Every child runs in its own session, so a Ctrl-C at the terminal reaches only the bench, whose
``finally`` blocks then stop each child by PID (SIGTERM, then SIGKILL for it and its children).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

CLOCK_TICKS: Final = os.sysconf("SC_CLK_TCK")
STARTUP_TIMEOUT: Final = 20.0
STOP_TIMEOUT: Final = 10.0


class StartupError(RuntimeError):
    """A child exited or never listened; the message carries its log."""


@dataclass(frozen=True)
class CpuTimes:
    """User and system CPU seconds of a process and its direct children (nginx workers)."""

    user: float
    system: float

    def __sub__(self, other: CpuTimes) -> CpuTimes:
        return CpuTimes(self.user - other.user, self.system - other.system)


def free_port() -> int:
    """A loopback TCP port nobody listens on right now (a child may still lose the race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def listening(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            found += [int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
        except OSError:
            continue
    return found


def process_cpu(pid: int) -> CpuTimes:
    """CPU seconds so far of one process (all its threads), from /proc/PID/stat."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) may hold spaces; the fields after its closing paren are fixed.
    fields = raw[raw.rindex(")") + 2 :].split()
    return CpuTimes(int(fields[11]) / CLOCK_TICKS, int(fields[12]) / CLOCK_TICKS)


class Child:
    """One child process: its command, log file and PID."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        log: Path,
        cpu: str,
        *,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.log = log
        with log.open("ab") as sink:
            self.process = subprocess.Popen(
                ["taskset", "-c", cpu, *command],
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        # taskset execs the command, so this PID is the proxy's (nginx's master) PID.
        self.pid = self.process.pid

    def output(self) -> str:
        """The tail of the child's log."""
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def wait_listening(self, port: int) -> None:
        """Returns once port accepts connections; raises if the child exits or takes too long."""
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not listening(port):
            if self.process.poll() is not None:
                raise StartupError(
                    f"{self.name} exited with {self.process.returncode}:\n{self.output()}"
                )
            if time.monotonic() > deadline:
                raise StartupError(f"{self.name} not listening on {port}:\n{self.output()}")
            time.sleep(0.05)

    def cpu(self) -> CpuTimes:
        """CPU seconds so far of the process and its children (nginx's workers)."""
        total = process_cpu(self.pid)
        for child in _children(self.pid):
            try:
                own = process_cpu(child)
            except OSError:
                continue
            total = CpuTimes(total.user + own.user, total.system + own.system)
        return total

    def stop(self) -> None:
        """SIGTERM, then SIGKILL for the process and any child it left behind."""
        if self.process.poll() is not None:
            return
        children = _children(self.pid)
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for child in children:
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                continue
