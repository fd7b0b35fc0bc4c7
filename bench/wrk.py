"""One wrk run, read into numbers: the driver every HTTP benchmark shares."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

_UNIT_MS: Final = {"us": 1e-3, "ms": 1.0, "s": 1e3}


@dataclass(frozen=True)
class WrkRun:
    """One wrk run's summary."""

    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int
    """connect + read + write + timeout errors."""

    @property
    def failures(self) -> int:
        """Everything that is not a 2xx/3xx answer."""
        return self.non_2xx + self.socket_errors


def _latency_ms(output: str, percentile: str) -> float:
    match = re.search(rf"^\s+{percentile}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no {percentile}% latency in wrk output:\n{output}")
    return float(match.group(1)) * _UNIT_MS[match.group(2)]


def parse(output: str) -> WrkRun:
    """The numbers in wrk --latency's report."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    total = re.search(r"^\s+(\d+) requests in", output, re.MULTILINE)
    if rps is None or total is None:
        raise RuntimeError(f"cannot parse wrk output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return WrkRun(
        rps=float(rps.group(1)),
        p50_ms=_latency_ms(output, "50"),
        p99_ms=_latency_ms(output, "99"),
        requests=int(total.group(1)),
        non_2xx=0 if non_2xx is None else int(non_2xx.group(1)),
        socket_errors=0 if errors is None else sum(int(g) for g in errors.groups()),
    )


def wrk(
    url: str,
    seconds: int,
    connections: int,
    cpu: str,
    headers: Sequence[str] = (),
    *,
    script: Path | None = None,
    script_args: Sequence[str] = (),
) -> WrkRun:
    """wrk with one thread, pinned to cpu, HTTP/1.1 keep-alive, latency percentiles.

    Errors and non-2xx answers are counted in the result, not raised: the caller decides what
    it tolerates. A wrk that fails to run at all raises.
    """
    command = ["taskset", "-c", cpu, "wrk", "-t1", f"-c{connections}", f"-d{seconds}s"]
    command += ["--latency", "--timeout", "5s"]
    for header in headers:
        command += ["-H", header]
    if script is not None:
        command += ["-s", str(script)]
    command.append(url)
    if script_args:
        command += ["--", *script_args]
    done = subprocess.run(
        command, check=False, capture_output=True, text=True, timeout=seconds + 30
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk {url} exited with {done.returncode}:\n{done.stderr}")
    return parse(done.stdout)
