"""update() under load loses nothing; drain() lets in-flight work finish; stop() cleans up."""

from __future__ import annotations

import itertools
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from lb_support import (
    Backend,
    Request,
    backends,
    config,
    request,
    respond,
    running,
    wait_until,
)

from bench.lb_configs import nginx_backend
from bench.lb_processes import Child, free_port
from bench.wrk import WrkRun, wrk
from thecloud.dataplane.lb import LoadBalancer, LoadBalancerConfig

pytestmark = pytest.mark.integration

ALL_CPUS = ",".join(str(cpu) for cpu in sorted(os.sched_getaffinity(0)))


@pytest.fixture
def nginx_backends(tmp_path: Path) -> Iterator[list[str]]:
    """Two nginx backends (fast enough that wrk measures the proxy, not them)."""
    with ExitStack() as stack:
        addresses = []
        for index in range(2):
            name = f"backend{index}"
            port = free_port()
            conf = tmp_path / f"{name}.conf"
            conf.write_text(nginx_backend(tmp_path, name, port))
            log = tmp_path / f"{name}.log"
            child = Child(name, ["nginx", "-p", str(tmp_path), "-c", str(conf)], log, ALL_CPUS)
            stack.callback(child.stop)
            child.wait_listening(port)
            addresses.append(f"127.0.0.1:{port}")
        yield addresses


def _layout(addresses: list[str], flipped: bool) -> dict[str, Any]:
    """Two equivalent layouts: a round-robin pool, or a least-connections one named otherwise."""
    pool = {
        "name": "green" if flipped else "blue",
        "backends": [
            {"address": a, "weight": 1} for a in (addresses[::-1] if flipped else addresses)
        ],
        "algorithm": {"kind": "least_connections" if flipped else "round_robin"},
    }
    return {
        "workers": 2,
        "listeners": [
            {"name": "web", "bind": "127.0.0.1:0", "default_pool": pool["name"], "routes": []}
        ],
        "pools": [pool],
    }


def test_update_under_wrk_load_loses_no_request(nginx_backends: list[str]) -> None:
    layouts = [LoadBalancerConfig.from_dict(_layout(nginx_backends, f)) for f in (False, True)]
    with LoadBalancer(layouts[0]) as balancer:
        port = balancer.addresses()["web"][1]
        outcome: list[WrkRun] = []
        load = threading.Thread(
            target=lambda: outcome.append(wrk(f"http://127.0.0.1:{port}/", 3, 32, ALL_CPUS))
        )
        load.start()
        swaps = 0
        time.sleep(0.3)
        while load.is_alive() and swaps < 12:
            swaps += 1
            balancer.update(layouts[swaps % 2])
            time.sleep(0.2)
        load.join(30)
    (run,) = outcome
    assert swaps >= 6
    assert run.requests > 1000
    assert (run.socket_errors, run.non_2xx) == (0, 0), run


def _slow(backend: Backend, req: Request, sock: socket.socket) -> None:
    req.read_body()
    if req.target == "/slow":
        time.sleep(1.0)
    respond(sock, 200, req.target.encode())


def _refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            sock.settimeout(1)
            return sock.recv(1) == b""
    except OSError:
        return True


def test_drain_finishes_the_slow_request_and_refuses_new_connections() -> None:
    with backends(1, _slow) as (backend,), running(config([backend])) as proxy:
        assert proxy.get("/fast").status == 200
        statuses: list[int] = []
        slow = threading.Thread(target=lambda: statuses.append(proxy.get("/slow").status))
        slow.start()
        assert wait_until(lambda: bool(backend.requests_for("/slow")), 2.0)
        drained: list[bool] = []
        draining = threading.Thread(
            target=lambda: drained.append(proxy.balancer.drain(timeout=5.0))
        )
        draining.start()
        assert wait_until(lambda: _refused(proxy.port), 1.0), "new connections still served"
        slow.join(5)
        draining.join(5)
        assert statuses == [200]
        assert drained == [True]


def test_drain_times_out_false_when_a_request_outlives_it() -> None:
    with backends(1, _slow) as (backend,), running(config([backend])) as proxy:
        slow = threading.Thread(target=lambda: proxy.get("/slow"))
        slow.start()
        assert wait_until(lambda: bool(backend.requests_for("/slow")), 2.0)
        assert proxy.balancer.drain(timeout=0.2) is False
        slow.join(5)


def _threads() -> int:
    return len(os.listdir("/proc/self/task"))


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_stop_leaves_no_threads_or_sockets_and_frees_the_port() -> None:
    with backends(1) as (backend,):
        port = free_port()
        document = config([backend], listener={"bind": f"127.0.0.1:{port}"})
        threads, fds = _threads(), _fds()
        balancer = LoadBalancer(LoadBalancerConfig.from_dict(document))
        balancer.start()
        assert request(port, "/").status == 200
        assert _threads() > threads
        balancer.stop()
        assert wait_until(lambda: _threads() == threads, 2.0), (_threads(), threads)
        assert wait_until(lambda: _fds() <= fds, 2.0), (_fds(), fds)
        with socket.socket() as sock:
            # SO_REUSEADDR as any server sets it: TIME_WAIT pairs may remain, a listener may not.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
            sock.listen()
        # A stopped balancer can start again on the same port.
        balancer = LoadBalancer(LoadBalancerConfig.from_dict(document))
        balancer.start()
        try:
            assert request(port, "/").status == 200
        finally:
            balancer.stop()


def test_update_lets_in_flight_requests_finish_on_the_old_pool() -> None:
    with backends(2, _slow) as (old, new):
        before = config([old])
        after = config([new])
        with running(before) as proxy:
            answers: list[tuple[int, str]] = []

            def slow_request() -> None:
                reply = proxy.get("/slow")
                answers.append((reply.status, reply.body.decode()))

            slow = threading.Thread(target=slow_request)
            slow.start()
            assert wait_until(lambda: bool(old.requests_for("/slow")), 2.0)
            proxy.balancer.update(LoadBalancerConfig.from_dict(after))
            assert proxy.get("/fast").status == 200
            assert [r.target for r in new.received] == ["/fast"]
            slow.join(5)
        assert answers == [(200, "/slow")]
        assert [r.target for r in old.received] == ["/slow"]


def test_update_adds_and_removes_listeners() -> None:
    with backends(1) as (backend,):
        document = config([backend])
        with running(document) as proxy:
            extra = json.loads(json.dumps(document["listeners"][0]))
            extra["name"] = "admin"
            document["listeners"].append(extra)
            proxy.balancer.update(LoadBalancerConfig.from_dict(document))
            admin_port = proxy.balancer.addresses()["admin"][1]
            assert admin_port != proxy.port
            assert request(admin_port, "/").status == 200
            document["listeners"].pop()
            proxy.balancer.update(LoadBalancerConfig.from_dict(document))
            assert "admin" not in proxy.balancer.addresses()
            assert wait_until(lambda: _refused(admin_port), 2.0)
            assert request(proxy.port, "/").status == 200


@pytest.fixture
def silent_backends() -> Iterator[list[str]]:
    """Listeners that never accept nor answer: every health probe runs into its timeout."""
    with ExitStack() as stack:
        addresses = []
        for _ in range(8):
            sock = stack.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            sock.listen(128)
            addresses.append(f"127.0.0.1:{sock.getsockname()[1]}")
        yield addresses


@pytest.fixture
def unreachable_backends() -> Iterator[list[str]]:
    """Listeners with a full accept queue: SYNs are dropped, so each probe's connect hangs
    until its timeout (stop() must not wait for it)."""
    with ExitStack() as stack:
        addresses = []
        for _ in range(8):
            sock = stack.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            sock.listen(0)
            for _ in range(3):
                filler = stack.enter_context(socket.socket())
                filler.setblocking(False)
                filler.connect_ex(sock.getsockname())
            addresses.append(f"127.0.0.1:{sock.getsockname()[1]}")
        yield addresses


def _probing(addresses: list[str]) -> LoadBalancer:
    pool = {
        "name": "app",
        "backends": [{"address": a, "weight": 1} for a in addresses],
        "algorithm": {"kind": "round_robin"},
        "health_check": {"path": "/healthz", "interval_ms": 1000, "timeout_ms": 1000},
    }
    listener = {"name": "web", "bind": "127.0.0.1:0", "default_pool": "app", "routes": []}
    document = {"workers": 1, "listeners": [listener], "pools": [pool]}
    balancer = LoadBalancer(LoadBalancerConfig.from_dict(document))
    balancer.start()
    time.sleep(0.3)  # a probe is in flight
    return balancer


@pytest.mark.parametrize("kind", ["silent_backends", "unreachable_backends"])
def test_stop_is_prompt_while_health_probes_wait_on_dead_backends(
    kind: str, request: pytest.FixtureRequest
) -> None:
    balancer = _probing(request.getfixturevalue(kind))
    started = time.monotonic()
    balancer.stop()
    # Probes are non-blocking and the checker is woken: no probe timeout is waited for.
    assert time.monotonic() - started < 0.2


def test_dropping_a_running_balancer_is_prompt_and_leaves_python_running(
    unreachable_backends: list[str],
) -> None:
    balancer = _probing(unreachable_backends)
    ticks: list[float] = []
    done = threading.Event()

    def tick() -> None:
        while not done.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.01)

    ticker = threading.Thread(target=tick)
    ticker.start()
    time.sleep(0.05)
    started = time.monotonic()
    del balancer  # stops the engine (with the GIL released) while probes hang
    took = time.monotonic() - started
    time.sleep(0.05)
    done.set()
    ticker.join()
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert took < 0.2, took
    assert max(gaps) < 0.15, (max(gaps), took)
