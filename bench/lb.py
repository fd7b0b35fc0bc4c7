"""Our L7 load balancer against HAProxy and nginx as proxies, and against no proxy, under wrk.

Layout: the proxy under test alone on CPU 1; wrk (one thread) and two nginx backends (one worker
each, 200 with a 64-byte body, keep-alive, no access log) on CPU 0, over 127.0.0.1. Targets run
interleaved within each repetition (direct, HAProxy, nginx, ours) at 50 and 200 connections;
every ratio to HAProxy is taken within one repetition, and the table shows their median.
Scenario "plain" forwards only; scenario "routed" adds 50 host/path routes (the last matches),
a request header set, X-Forwarded-For and an access log in every proxy.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Final

from bench.context import RunContext
from bench.lb_configs import Scenario
from bench.lb_fleet import DIRECT, HAPROXY, LOAD_CPU, NGINX, OURS, PROXY_CPU, Endpoint, fleet
from bench.lb_processes import CpuTimes
from bench.results import BenchResult, Case, Target
from bench.stats import Stats
from bench.wrk import WrkRun, wrk

NAME = "lb"
ANCHORS = ()
"""HAProxy and nginx are Debian packages, not Python distributions; their versions go in notes."""

CONNECTIONS: Final = (50, 200)
PLAIN: Final = Scenario("plain", routed=False)
ROUTED: Final = Scenario("routed", routed=True)
TARGETS: Final = {PLAIN: (DIRECT, HAPROXY, NGINX, OURS), ROUTED: (HAPROXY, NGINX, OURS)}
RATIO_TARGET: Final = {PLAIN: 1.1, ROUTED: 1.0}
"""Our median req/s over HAProxy's (issue 4)."""
TMPFS: Final = Path("/dev/shm")


@dataclass(frozen=True)
class Sample:
    """One wrk run against one target and the proxy's CPU time during it."""

    target: str
    connections: int
    repetition: int
    run: WrkRun
    cpu: CpuTimes | None

    def cpu_us_per_request(self) -> tuple[float, float] | None:
        """(user, system) CPU microseconds per answered request, or None without a proxy."""
        if self.cpu is None or self.run.requests == 0:
            return None
        scale = 1e6 / self.run.requests
        return self.cpu.user * scale, self.cpu.system * scale


def _measure(
    endpoint: Endpoint, scenario: Scenario, seconds: int, connections: int
) -> tuple[WrkRun, CpuTimes | None]:
    url = f"http://127.0.0.1:{endpoint.port}{scenario.path}"
    headers = [f"Host: {scenario.host}"]
    before = None if endpoint.process is None else endpoint.process.cpu()
    run = wrk(url, seconds, connections, LOAD_CPU, headers)
    after = None if endpoint.process is None else endpoint.process.cpu()
    cpu = None if before is None or after is None else after - before
    return run, cpu


def _scenario(
    ctx: RunContext, workdir: Path, scenario: Scenario, repetitions: int, seconds: int
) -> tuple[list[Sample], list[str]]:
    """Every run of one scenario, and what is wrong with its access logs (routed only)."""
    samples: list[Sample] = []
    workdir = workdir / scenario.name  # fresh files: a stale ready file would name a dead port
    workdir.mkdir()
    with fleet(workdir, scenario, TARGETS[scenario]) as endpoints:
        for endpoint in endpoints:
            ctx.progress(f"{scenario.name}: warm up {endpoint.name}")
            _measure(endpoint, scenario, 1, max(CONNECTIONS))
        for repetition in range(repetitions):
            for connections in CONNECTIONS:
                for endpoint in endpoints:
                    ctx.progress(
                        f"{scenario.name} rep {repetition + 1}/{repetitions} "
                        f"c={connections} {endpoint.name} ({seconds} s)"
                    )
                    run, cpu = _measure(endpoint, scenario, seconds, connections)
                    samples.append(Sample(endpoint.name, connections, repetition, run, cpu))
    return samples, _check_access_logs(workdir, samples) if scenario.routed else []


ACCESS_LOGS: Final = {HAPROXY: "HAProxy.log", NGINX: "nginx.access.log", OURS: "ours.access.log"}
"""Where each proxy's access log lands in the scenario's directory (HAProxy: its stdout)."""


def _check_access_logs(workdir: Path, samples: list[Sample]) -> list[str]:
    """Every proxy must log about one line per request, or the comparison is unfair."""
    problems = []
    for target, name in ACCESS_LOGS.items():
        served = sum(s.run.requests for s in samples if s.target == target)
        path = workdir / name
        lines = path.read_bytes().count(b"\n") if path.exists() else 0
        # Warm-up requests are logged too; a few may be missing from a buffer cut at exit.
        if lines < served * 0.99:
            problems.append(f"{target} logged {lines:,} lines for {served:,} answered requests")
    return problems


def _select(samples: list[Sample], target: str, connections: int) -> list[Sample]:
    return sorted(
        (s for s in samples if s.target == target and s.connections == connections),
        key=lambda s: s.repetition,
    )


def _per_repetition(ours: list[Sample], anchor: list[Sample], field: str) -> Stats:
    """ours[i] / anchor[i] of a wrk field, one ratio per repetition."""
    return Stats.of(
        [getattr(o.run, field) / getattr(a.run, field) for o, a in zip(ours, anchor, strict=True)]
    )


def _field(samples: list[Sample], field: str) -> Stats:
    return Stats.of([getattr(s.run, field) for s in samples])


def _cpu_case(prefix: str, target: str, samples: list[Sample], anchor: list[Sample]) -> Case:
    def totals(chosen: list[Sample]) -> tuple[Stats, float, float]:
        split = [s.cpu_us_per_request() for s in chosen]
        pairs = [p for p in split if p is not None]
        user = Stats.of([p[0] for p in pairs]).median
        system = Stats.of([p[1] for p in pairs]).median
        return Stats.of([u + k for u, k in pairs]), user, system

    ours, user, system = totals(samples)
    theirs, anchor_user, anchor_system = totals(anchor)
    share = system / (user + system) if user + system else 0.0
    anchor_share = (
        anchor_system / (anchor_user + anchor_system) if anchor_user + anchor_system else 0
    )
    return Case(
        f"  {target} CPU per request vs HAProxy",
        "us/req",
        ours,
        theirs,
        note=f"{prefix}: {target} user {user:.2f} + system {system:.2f} us ({share:.0%} "
        f"kernel); HAProxy user {anchor_user:.2f} + system {anchor_system:.2f} us "
        f"({anchor_share:.0%} kernel)",
        details={
            "user_us": user,
            "system_us": system,
            "kernel_share": share,
            "haproxy_user_us": anchor_user,
            "haproxy_system_us": anchor_system,
            "haproxy_kernel_share": anchor_share,
        },
    )


def _cases(result: BenchResult, scenario: Scenario, samples: list[Sample]) -> None:
    for connections in CONNECTIONS:
        prefix = f"{scenario.name} c={connections}"
        haproxy = _select(samples, HAPROXY, connections)
        for target in TARGETS[scenario]:
            if target == HAPROXY:
                continue
            chosen = _select(samples, target, connections)
            label = f"{prefix} {target}"
            result.add(
                Case(
                    f"{label} req/s vs HAProxy",
                    "req/s",
                    _field(chosen, "rps"),
                    _field(haproxy, "rps"),
                    better="higher",
                    details={
                        "requests": sum(s.run.requests for s in chosen),
                        "haproxy_requests": sum(s.run.requests for s in haproxy),
                    },
                )
            )
            result.add(
                Case(
                    f"  {target}/HAProxy req/s, same repetition",
                    "x",
                    _per_repetition(chosen, haproxy, "rps"),
                    target=Target(RATIO_TARGET[scenario], "higher") if target == OURS else None,
                    better="higher",
                )
            )
            for percentile in ("p50", "p99"):
                result.add(
                    Case(
                        f"  {target} {percentile} vs HAProxy",
                        "ms",
                        _field(chosen, f"{percentile}_ms"),
                        _field(haproxy, f"{percentile}_ms"),
                    )
                )
            if target == OURS and scenario == PLAIN:
                result.add(
                    Case(
                        "  ours/HAProxy p99, same repetition",
                        "x",
                        _per_repetition(chosen, haproxy, "p99_ms"),
                        target=Target(1.0, "lower"),
                    )
                )
            if target != DIRECT:
                result.add(_cpu_case(prefix, target, chosen, haproxy))


def _failures(
    result: BenchResult, samples: list[Sample], log_problems: list[str], log_to: RunContext
) -> None:
    failed = [s for s in samples if s.run.failures]
    count = sum(s.run.failures for s in samples)
    details: dict[str, float | int | str | bool] = {
        f"{s.target} c={s.connections} rep {s.repetition}": (
            f"{s.run.non_2xx} non-2xx, {s.run.socket_errors} socket errors"
        )
        for s in failed
    }
    result.add(
        Case(
            "errors and non-2xx answers, every run",
            "count",
            Stats.of([count]),
            target=Target(0, "lower"),
            note="must be 0" if not failed else "!!! SOME RUNS FAILED REQUESTS: see details",
            details=details,
        )
    )
    banner = "!" * 72
    if failed:
        lines = "\n".join(f"  {name}: {what}" for name, what in details.items())
        print(f"{banner}\nlb bench: REQUESTS FAILED\n{lines}\n{banner}", file=log_to.log)
        result.notes.append(f"!!! REQUESTS FAILED in {len(failed)} runs; the numbers are suspect")
    for problem in log_problems:
        print(f"{banner}\nlb bench: ACCESS LOG SHORT: {problem}\n{banner}", file=log_to.log)
        result.notes.append(f"!!! routed scenario unfair: {problem}")


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so every child process is stopped on the way out."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _versions() -> str:
    haproxy = subprocess.run(["haproxy", "-v"], capture_output=True, text=True, check=True)
    nginx = subprocess.run(["nginx", "-v"], capture_output=True, text=True, check=True)
    return f"{haproxy.stdout.splitlines()[0]}; {nginx.stderr.strip()}"


def run(ctx: RunContext) -> BenchResult:
    """Both scenarios, every target, both connection counts."""
    for tool in ("wrk", "taskset", "haproxy", "nginx"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"python -m bench lb needs {tool} (scripts/bootstrap-system.sh)")
    result = BenchResult(NAME)
    repetitions = ctx.pick(5, 1)
    seconds = ctx.pick(10, 2)
    workdir = Path(tempfile.mkdtemp(prefix="bench-lb-", dir=TMPFS if TMPFS.is_dir() else None))
    samples: list[Sample] = []
    log_problems: list[str] = []
    try:
        with _terminate_as_interrupt():
            for scenario in (PLAIN, ROUTED):
                found, problems = _scenario(ctx, workdir, scenario, repetitions, seconds)
                _cases(result, scenario, found)
                samples += found
                log_problems += problems
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    _failures(result, samples, log_problems, ctx)
    result.notes += [
        f"proxy alone on CPU {PROXY_CPU}; wrk -t1 and two nginx backends (1 worker each, 64-byte "
        f"200, keep-alive, no access log) on CPU {LOAD_CPU}; 127.0.0.1; {repetitions} "
        f"repetitions of {seconds} s per target and connection count, targets interleaved "
        "(direct, HAProxy, nginx, ours), each after a 1 s warm-up; ratios to HAProxy are "
        "taken within one repetition, the table shows their median",
        "HAProxy: nbthread 1, mode http, option http-keep-alive, http-reuse always, roundrobin; "
        'nginx proxy: 1 worker, upstream keepalive 512, proxy_http_version 1.1, Connection ""; '
        "ours: workers=1 in its own process (python -m bench.lb_server), round_robin, no "
        "retries, no X-Forwarded-*/request id in 'plain'",
        "CPU per request: utime+stime of the proxy process (nginx: master + worker) from "
        "/proc/PID/stat over the run, divided by wrk's answered requests (10 ms tick resolution)",
        "'routed': 50 routes host svcNN.example + path prefix /svcNN/ (the request matches the "
        "last, svc49), X-Env set to 'bench', X-Forwarded-For added; access logs to files on "
        "tmpfs: HAProxy 'log stdout format raw' + option httplog (one write per request, "
        "it cannot buffer to a file), nginx access_log combined buffer=64k flush=1s, ours "
        "JSON lines written by its log thread (each log is checked to hold a line per answered "
        "request); nginx picks the server block by a hash of the "
        "Host, HAProxy and ours evaluate the route list in order",
        _versions(),
    ]
    return result
