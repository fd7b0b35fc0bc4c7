"""Every balancing algorithm over real sockets: the share each backend gets is as promised."""

from __future__ import annotations

import collections
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from lb_support import Backend, Request, backends, config, request, respond, running

from thecloud.dataplane.lb import LoadBalancerConfig

pytestmark = pytest.mark.integration


def _counts(
    port: int, count: int, headers: dict[str, str] | None = None
) -> collections.Counter[str]:
    seen: collections.Counter[str] = collections.Counter()
    for _ in range(count):
        reply = request(port, "/", headers)
        assert reply.status == 200
        seen[reply.header("x-backend") or "?"] += 1
    return seen


def test_round_robin_spreads_evenly() -> None:
    with backends(3) as pool, running(config(pool)) as proxy:
        assert _counts(proxy.port, 90) == {"b0": 30, "b1": 30, "b2": 30}


def test_weighted_round_robin_follows_the_weights() -> None:
    with backends(3) as pool:
        document = config(pool, pool={"algorithm": {"kind": "weighted_round_robin"}})
        for backend, weight in zip(document["pools"][0]["backends"], (1, 2, 5), strict=True):
            backend["weight"] = weight
        with running(document) as proxy:
            assert _counts(proxy.port, 80) == {"b0": 10, "b1": 20, "b2": 50}


def _slow_on_b0(backend: Backend, request: Request, sock: socket.socket) -> None:
    request.read_body()
    if backend.name == "b0":
        time.sleep(0.5)
    respond(sock, 200, b"", [("X-Backend", backend.name)])


@pytest.mark.parametrize("kind", ["least_connections", "power_of_two"])
def test_connection_aware_algorithms_avoid_the_busy_backend(kind: str) -> None:
    with (
        backends(2, _slow_on_b0) as pool,
        running(config(pool, pool={"algorithm": {"kind": kind}})) as proxy,
    ):
        # Ten concurrent callers: b0 holds each request 0.5 s, so it should get few of them.
        with ThreadPoolExecutor(10) as executor:
            replies = list(
                executor.map(lambda _: request(proxy.port, "/").header("x-backend"), range(60))
            )
        seen = collections.Counter(replies)
        assert seen["b1"] > 3 * seen["b0"], seen


@pytest.mark.parametrize(
    ("hash_on", "key", "header_of"),
    [
        ("header", "x-user", lambda user: {"X-User": user}),
        ("cookie", "uid", lambda user: {"Cookie": f"other=1; uid={user}"}),
    ],
)
def test_consistent_hash_keeps_a_key_on_one_backend_and_spreads_keys(
    hash_on: str, key: str, header_of: Any
) -> None:
    with backends(4) as pool:
        algorithm = {"kind": "consistent_hash", "hash_on": hash_on, "key": key}
        with running(config(pool, pool={"algorithm": algorithm})) as proxy:
            homes = {}
            for user in (f"user-{i}" for i in range(40)):
                seen = _counts(proxy.port, 3, header_of(user))
                assert len(seen) == 1, (user, seen)
                homes[user] = next(iter(seen))
        # 40 keys over 4 backends: every backend owns some.
        assert set(homes.values()) == {"b0", "b1", "b2", "b3"}


def test_consistent_hash_on_client_ip_is_stable() -> None:
    with backends(3) as pool:
        algorithm = {"kind": "consistent_hash", "hash_on": "client_ip", "key": None}
        with running(config(pool, pool={"algorithm": algorithm})) as proxy:
            assert len(_counts(proxy.port, 20)) == 1


def test_consistent_hash_moves_the_keys_of_a_removed_backend_and_few_others() -> None:
    with backends(4) as pool:
        algorithm = {"kind": "consistent_hash", "hash_on": "header", "key": "x-user"}
        document = config(pool, pool={"algorithm": algorithm})
        users = [f"user-{i}" for i in range(200)]
        with running(document) as proxy:
            before = {u: request(proxy.port, "/", {"X-User": u}).header("x-backend") for u in users}
            document["pools"][0]["backends"] = document["pools"][0]["backends"][:3]
            proxy.balancer.update(LoadBalancerConfig.from_dict(document))
            after = {u: request(proxy.port, "/", {"X-User": u}).header("x-backend") for u in users}
    assert all(after[u] != "b3" for u in users)
    # A rebuilt Maglev table reassigns the removed backend's slots plus a little churn (a few
    # percent of the table, see the crate's unit tests), so most other keys stay where they were.
    survivors = [u for u in users if before[u] != "b3"]
    moved = [u for u in survivors if after[u] != before[u]]
    assert len(moved) <= 0.1 * len(survivors), moved


def test_sticky_cookie_keeps_a_client_on_its_backend() -> None:
    with backends(3) as pool:
        algorithm = {"kind": "sticky_cookie", "cookie": {"name": "tc_sticky", "ttl_ms": 0}}
        with running(config(pool, pool={"algorithm": algorithm})) as proxy:
            first = request(proxy.port, "/")
            set_cookie = first.header("set-cookie") or ""
            assert set_cookie.startswith("tc_sticky=")
            cookie = set_cookie.split(";", 1)[0]
            home = first.header("x-backend")
            # A cookie that names its backend only by a bare index would be forgeable.
            assert cookie.split("=", 1)[1] not in ("0", "1", "2")
            for _ in range(10):
                assert request(proxy.port, "/", {"Cookie": cookie}).header("x-backend") == home
            # Without the cookie, clients are spread again.
            assert len(_counts(proxy.port, 9)) == 3
            # A tampered cookie is ignored, not trusted.
            forged = request(proxy.port, "/", {"Cookie": "tc_sticky=forged"})
            assert forged.status == 200


def test_sticky_cookies_survive_an_update_that_reorders_or_inserts_backends() -> None:
    with backends(4) as (b0, b1, b2, b3):
        algorithm = {"kind": "sticky_cookie"}
        with running(config([b0, b1, b2], pool={"algorithm": algorithm})) as proxy:
            cookies: dict[str, str] = {}
            while len(cookies) < 3:
                reply = request(proxy.port, "/")
                name = reply.header("x-backend") or "?"
                cookies[name] = (reply.header("set-cookie") or "").split(";", 1)[0]
            # Reordered, with a new backend in front: every cookie keeps its backend.
            proxy.balancer.update(
                LoadBalancerConfig.from_dict(
                    config([b3, b2, b0, b1], pool={"algorithm": algorithm})
                )
            )
            for name, cookie in cookies.items():
                for _ in range(4):
                    reply = request(proxy.port, "/", {"Cookie": cookie})
                    assert (name, reply.header("x-backend")) == (name, name)
                    assert reply.header("set-cookie") is None
            # Its backend gone, a cookie is balanced like no cookie and replaced.
            proxy.balancer.update(
                LoadBalancerConfig.from_dict(config([b3, b0, b1], pool={"algorithm": algorithm}))
            )
            orphan = request(proxy.port, "/", {"Cookie": cookies["b2"]})
            assert orphan.status == 200
            assert orphan.header("x-backend") in ("b0", "b1", "b3")
            reissued = (orphan.header("set-cookie") or "").split(";", 1)[0]
            assert reissued.startswith("tc_sticky=") and reissued != cookies["b2"]
            again = request(proxy.port, "/", {"Cookie": reissued})
            assert again.header("x-backend") == orphan.header("x-backend")


def test_balancing_is_safe_under_concurrent_clients() -> None:
    lock = threading.Lock()
    with backends(2) as pool, running(config(pool)) as proxy:
        seen: collections.Counter[str] = collections.Counter()

        def one(_: int) -> None:
            name = request(proxy.port, "/").header("x-backend") or "?"
            with lock:
                seen[name] += 1

        with ThreadPoolExecutor(8) as executor:
            list(executor.map(one, range(200)))
        assert seen == {"b0": 100, "b1": 100}
