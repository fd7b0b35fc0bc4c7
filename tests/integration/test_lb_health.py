"""Health: active checks eject and restore backends on time; outliers are ejected; a dying backend
costs only the request it was serving."""

from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from lb_support import (
    Backend,
    RawResponse,
    Request,
    answer_with_name,
    backends,
    closed_by_peer,
    config,
    raw_connection,
    request,
    respond,
    running,
    wait_until,
)

pytestmark = pytest.mark.integration

INTERVAL_MS = 200
SLACK_S = 1.5
NO_RETRIES = {"attempts": 0, "budget_percent": 20, "min_per_second": 10}


def _only(port: int, name: str, count: int = 6) -> bool:
    return all(request(port, "/").header("x-backend") == name for _ in range(count))


def test_active_check_ejects_a_failing_backend_and_brings_it_back_after_rise() -> None:
    check = {
        "path": "/healthz",
        "interval_ms": INTERVAL_MS,
        "timeout_ms": INTERVAL_MS,
        "rise": 2,
        "fall": 2,
        "expected_status": [[200, 399]],
        "host": None,
    }
    with backends(2) as (healthy, sick):
        with running(config([healthy, sick], pool={"health_check": check})) as proxy:
            assert wait_until(lambda: sick.health_checks >= 2, 2.0), "no active checks arrived"
            assert {request(proxy.port, "/").header("x-backend") for _ in range(4)} == {"b0", "b1"}
            sick.health_status = 500
            began = time.monotonic()
            assert wait_until(lambda: _only(proxy.port, "b0"), INTERVAL_MS * 2 / 1000 + SLACK_S)
            ejected_after = time.monotonic() - began
            sick.health_status = 200
            began = time.monotonic()
            assert wait_until(
                lambda: "b1" in {request(proxy.port, "/").header("x-backend") for _ in range(4)},
                INTERVAL_MS * 2 / 1000 + SLACK_S,
            )
            restored_after = time.monotonic() - began
        # Neither happens before the state machine allows it: fall/rise checks one interval apart.
        assert ejected_after >= INTERVAL_MS / 1000 * 0.5
        assert restored_after >= INTERVAL_MS / 1000 * 0.5


def _five_hundred_on_b1(backend: Backend, request: Request, sock: socket.socket) -> None:
    if backend.name == "b1":
        request.read_body()
        respond(sock, 500, b"broken", [("X-Backend", backend.name)])
    else:
        answer_with_name(backend, request, sock)


def test_passive_outlier_detection_ejects_a_backend_answering_5xx_then_retries_it() -> None:
    outlier = {
        "consecutive_5xx": 3,
        "consecutive_connect_failures": 3,
        "ejection_ms": 1000,
        "max_ejected_percent": 50,
    }
    with backends(2, _five_hundred_on_b1) as (good, bad):
        pool = {"outlier": outlier, "retries": NO_RETRIES}
        with running(config([good, bad], pool=pool)) as proxy:
            statuses = [request(proxy.port, "/").status for _ in range(30)]
            assert statuses.count(500) == 3, statuses
            assert len(bad.received) == 3
            time.sleep(1.2)
            # Ejection over: b1 is tried again (and, still failing, is ejected again).
            statuses = [request(proxy.port, "/").status for _ in range(10)]
            assert 500 in statuses


def _dies_mid_response(backend: Backend, request: Request, sock: socket.socket) -> None:
    request.read_body()
    if request.target == "/die-in-head":
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-")
        sock.shutdown(socket.SHUT_RDWR)
        raise ConnectionError("killed on purpose")
    if request.target == "/die-in-body":
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"p" * 10)
        sock.shutdown(socket.SHUT_RDWR)
        raise ConnectionError("killed on purpose")
    respond(sock, 200, backend.name.encode(), [("X-Backend", backend.name)])


def test_backend_dying_mid_response_fails_only_that_request() -> None:
    with (
        backends(1, _dies_mid_response) as pool,
        running(config(pool, pool={"retries": NO_RETRIES})) as proxy,
    ):
        assert request(proxy.port, "/die-in-head").status == 502
        assert all(request(proxy.port, "/fine").status == 200 for _ in range(5))
        with raw_connection(proxy.port) as (sock, rfile):
            sock.sendall(b"GET /die-in-body HTTP/1.1\r\nHost: a\r\n\r\n")
            head = RawResponse.read(rfile, head_only=True)
            assert head.status == 200
            # Headers already left: the only honest signal is a cut connection.
            assert rfile.read(10) == b"p" * 10
            assert closed_by_peer(sock, rfile)
        assert all(request(proxy.port, "/fine").status == 200 for _ in range(5))


def test_connection_refused_backend_is_skipped_by_a_retry() -> None:
    with backends(2) as (alive, dead):
        dead.close()
        pool = {"retries": {"attempts": 1, "budget_percent": 100, "min_per_second": 100}}
        with running(config([alive, dead], pool=pool)) as proxy:
            statuses = [request(proxy.port, "/").status for _ in range(10)]
        assert statuses == [200] * 10


def _slow(backend: Backend, request: Request, sock: socket.socket) -> None:
    request.read_body()
    time.sleep(0.8)
    respond(sock, 200, b"slow", [("X-Backend", backend.name)])


def test_per_backend_connection_limit_answers_503_when_every_backend_is_full() -> None:
    with (
        backends(1, _slow) as pool,
        running(config(pool, pool={"max_connections_per_backend": 1})) as proxy,
        ThreadPoolExecutor(2) as executor,
    ):
        first = executor.submit(request, proxy.port, "/")
        time.sleep(0.2)  # the first request holds the backend's only slot
        second = executor.submit(request, proxy.port, "/")
        assert sorted([first.result().status, second.result().status]) == [200, 503]
        assert len(pool[0].received) == 1


def _always_500(backend: Backend, request: Request, sock: socket.socket) -> None:
    request.read_body()
    respond(sock, 500, b"broken")


def test_circuit_breaker_opens_on_failures_then_lets_a_probe_through() -> None:
    breaker = {"failure_ratio": 0.5, "min_requests": 4, "window_ms": 10_000, "open_ms": 1000}
    with backends(1, _always_500) as (backend,):
        pool = {"circuit_breaker": breaker, "retries": NO_RETRIES}
        with running(config([backend], pool=pool)) as proxy:
            statuses = [request(proxy.port, "/").status for _ in range(10)]
            assert statuses[:4] == [500] * 4
            assert statuses[4:] == [503] * 6  # open: answered without the backend
            assert len(backend.received) == 4
            time.sleep(1.2)
            assert request(proxy.port, "/").status == 500  # half-open: one probe reaches it
            assert len(backend.received) == 5


def test_slow_start_ramps_a_recovered_backend_up_to_its_weight() -> None:
    check = {
        "path": "/healthz",
        "interval_ms": 100,
        "timeout_ms": 100,
        "rise": 1,
        "fall": 1,
        "expected_status": [[200, 299]],
        "host": None,
    }
    with backends(2) as (steady, recovering):
        document = config(
            [steady, recovering],
            pool={
                "algorithm": {"kind": "weighted_round_robin"},
                "health_check": check,
                "slow_start_ms": 3000,
            },
        )
        for backend in document["pools"][0]["backends"]:
            backend["weight"] = 100
        with running(document) as proxy:

            def share_of_b1(count: int) -> float:
                names = [request(proxy.port, "/").header("x-backend") for _ in range(count)]
                return names.count("b1") / count

            recovering.health_status = 500
            assert wait_until(lambda: _only(proxy.port, "b0"), 2.0)
            recovering.health_status = 200
            assert wait_until(lambda: share_of_b1(4) > 0, 2.0), "b1 never came back"
            recovered = time.monotonic()
            early = share_of_b1(60)
            time.sleep(max(0.0, recovered + 3.3 - time.monotonic()))
            late = share_of_b1(60)
        # A fraction of a second into a 3 s ramp, b1 weighs a small part of its 100.
        assert early < 0.25, early
        assert 0.4 <= late <= 0.6, late
