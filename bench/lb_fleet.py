"""The processes one ``lb`` scenario needs: two nginx backends, and the proxies in front of them.

Backends share the load generator's core; each proxy is pinned alone to the other core.
Ports come from `free_port`; a child that loses the race for its port is started again on
another one.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from bench import lb_configs
from bench.lb_configs import Scenario
from bench.lb_processes import STARTUP_TIMEOUT, Child, StartupError, free_port

PROXY_CPU: Final = "1"
LOAD_CPU: Final = "0"
"""wrk and the backends."""
ATTEMPTS: Final = 3
REPO: Final = Path(__file__).resolve().parents[1]

DIRECT: Final = "direct"
HAPROXY: Final = "HAProxy"
NGINX: Final = "nginx"
OURS: Final = "ours"


@dataclass(frozen=True)
class Endpoint:
    """Where wrk sends a target's traffic, and the process whose CPU time it costs."""

    name: str
    port: int
    process: Child | None
    """None for the direct target (no proxy)."""


def _start(
    stack: ExitStack,
    name: str,
    workdir: Path,
    launch: Callable[[int, Path], list[str]],
    cpu: str = PROXY_CPU,
) -> tuple[int, Child]:
    """Starts launch(port, log) on a free port, retrying when the port was taken meanwhile."""
    for attempt in range(ATTEMPTS):
        port = free_port()
        log = workdir / f"{name}.log"
        child = Child(name, launch(port, log), log, cpu)
        stack.callback(child.stop)
        try:
            child.wait_listening(port)
            return port, child
        except StartupError:
            child.stop()
            if attempt == ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _nginx(
    workdir: Path, name: str, render: Callable[[int], str]
) -> Callable[[int, Path], list[str]]:
    def launch(port: int, log: Path) -> list[str]:
        config = workdir / f"{name}.conf"
        config.write_text(render(port))
        return ["nginx", "-p", str(workdir), "-c", str(config), "-e", str(log)]

    return launch


def _start_backend(stack: ExitStack, workdir: Path, name: str) -> int:
    def render(port: int) -> str:
        return lb_configs.nginx_backend(workdir, name, port)

    port, _ = _start(stack, name, workdir, _nginx(workdir, name, render), LOAD_CPU)
    return port


def _start_haproxy(
    stack: ExitStack, workdir: Path, backends: list[int], scenario: Scenario
) -> Endpoint:
    config = workdir / "haproxy.cfg"

    def launch(port: int, log: Path) -> list[str]:
        config.write_text(lb_configs.haproxy(port, backends, scenario))
        return ["haproxy", "-db", "-f", str(config)]

    port, child = _start(stack, HAPROXY, workdir, launch)
    return Endpoint(HAPROXY, port, child)


def _start_nginx_proxy(
    stack: ExitStack, workdir: Path, backends: list[int], scenario: Scenario
) -> Endpoint:
    name = "nginx-proxy"

    def render(port: int) -> str:
        return lb_configs.nginx_proxy(
            workdir,
            name,
            port,
            backends=backends,
            scenario=scenario,
            log=workdir / "nginx.access.log",
        )

    port, child = _start(stack, NGINX, workdir, _nginx(workdir, name, render))
    return Endpoint(NGINX, port, child)


def _python_environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("THECLOUD_")}
    source = os.pathsep.join(str(REPO / part) for part in ("core", "dataplane", "control"))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), source, env.get("PYTHONPATH")]))
    return env


def _start_ours(
    stack: ExitStack, workdir: Path, backends: list[int], scenario: Scenario
) -> Endpoint:
    """Ours in its own process (bench.lb_server); it binds port 0 and reports the port."""
    config = workdir / "ours.json"
    config.write_text(json.dumps(lb_configs.ours(backends, scenario, workdir / "ours.access.log")))
    ready = workdir / "ours.ready.json"
    log = workdir / "ours.log"
    command = [sys.executable, "-m", "bench.lb_server", str(config), str(ready)]
    child = Child(OURS, command, log, PROXY_CPU, cwd=REPO, env=_python_environment())
    stack.callback(child.stop)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not ready.exists():
        if child.process.poll() is not None:
            raise StartupError(f"ours exited with {child.process.returncode}:\n{child.output()}")
        if time.monotonic() > deadline:
            raise StartupError(f"ours not ready after {STARTUP_TIMEOUT} s:\n{child.output()}")
        time.sleep(0.05)
    port = int(json.loads(ready.read_text())["web"][1])
    child.wait_listening(port)
    return Endpoint(OURS, port, child)


@contextmanager
def fleet(workdir: Path, scenario: Scenario, targets: tuple[str, ...]) -> Iterator[list[Endpoint]]:
    """Starts the backends and the named targets; stops every process when the block ends."""
    with ExitStack() as stack:
        backends = [_start_backend(stack, workdir, f"backend{index}") for index in range(2)]
        endpoints = []
        for target in targets:
            if target == DIRECT:
                endpoints.append(Endpoint(DIRECT, backends[0], None))
            elif target == HAPROXY:
                endpoints.append(_start_haproxy(stack, workdir, backends, scenario))
            elif target == NGINX:
                endpoints.append(_start_nginx_proxy(stack, workdir, backends, scenario))
            elif target == OURS:
                endpoints.append(_start_ours(stack, workdir, backends, scenario))
            else:
                raise ValueError(f"unknown lb target {target!r}")
        yield endpoints
