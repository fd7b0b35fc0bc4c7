"""Routes pick pools by host and path; header rules and forwarding headers reach the backend."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from lb_support import (
    Backend,
    RawResponse,
    Request,
    backends,
    closed_by_peer,
    config,
    raw_connection,
    request,
    respond,
    running,
)

pytestmark = pytest.mark.integration


def _pool(name: str, backend: Backend) -> dict[str, Any]:
    return {
        "name": name,
        "backends": [{"address": backend.address, "weight": 1}],
        "algorithm": {"kind": "round_robin"},
    }


def _route(
    name: str, pool: str, host: str | None, kind: str | None, value: str = ""
) -> dict[str, Any]:
    return {
        "name": name,
        "host": host,
        "path": None if kind is None else {"kind": kind, "value": value},
        "pool": pool,
    }


def test_routes_match_host_and_exact_prefix_regex_paths_then_the_default_pool() -> None:
    with backends(5) as (exact, prefix, regex, wildcard, fallback):
        document = config([fallback])
        document["pools"] += [
            _pool("exact", exact),
            _pool("prefix", prefix),
            _pool("regex", regex),
            _pool("wildcard", wildcard),
        ]
        document["listeners"][0]["routes"] = [
            _route("exact", "exact", None, "exact", "/exact"),
            _route("api", "prefix", "api.example", "prefix", "/v1/"),
            _route("images", "regex", None, "regex", "^/img/[0-9]+$"),
            _route("any-sub", "wildcard", "*.example", None),
        ]
        cases = [
            ("/exact", "other.test", "b0"),
            ("/exact/more", "other.test", "b4"),  # exact means exact
            ("/v1/users", "api.example", "b1"),
            ("/v1/users", "API.Example:8080", "b1"),  # host: any case, port ignored
            ("/v2/users", "api.example", "b3"),  # path misses, *.example catches it
            ("/v1/users", "other.test", "b4"),
            ("/img/42", "other.test", "b2"),
            ("/img/42x", "other.test", "b4"),
            ("/", "www.example", "b3"),
            ("/", "other.test", "b4"),
        ]
        with running(document) as proxy:
            for path, host, expected in cases:
                reply = proxy.get(path, {"Host": host})
                assert (path, host, reply.status, reply.header("x-backend")) == (
                    path,
                    host,
                    200,
                    expected,
                )


def test_no_matching_route_and_no_default_pool_answers_404_without_a_backend() -> None:
    with backends(1) as (backend,):
        document = config([backend], listener={"default_pool": None})
        document["listeners"][0]["routes"] = [_route("only", "app", "only.example", None)]
        with running(document) as proxy:
            assert proxy.get("/", {"Host": "only.example"}).status == 200
            assert proxy.get("/", {"Host": "elsewhere.example"}).status == 404
        assert len(backend.received) == 1


def _echo_headers(backend: Backend, request: Request, sock: socket.socket) -> None:
    request.read_body()
    respond(
        sock,
        200,
        b"ok",
        [("X-Backend", backend.name), ("X-Drop", "secret"), ("X-Replace", "old")],
    )


def test_header_rules_add_set_and_remove_on_requests_and_responses() -> None:
    with backends(1, _echo_headers) as (backend,):
        document = config([backend])
        route = _route("all", "app", None, None)
        route["request_headers"] = {
            "add": [["x-added", "1"]],
            "set": [["x-set", "2"]],
            "remove": ["x-gone"],
        }
        route["response_headers"] = {
            "add": [["x-resp-added", "yes"]],
            "set": [["x-replace", "new"]],
            "remove": ["x-drop"],
        }
        document["listeners"][0]["routes"] = [route]
        with running(document) as proxy:
            reply = proxy.get("/", {"X-Added": "0", "X-Set": "old", "X-Gone": "bye"})
        seen = backend.received[0]
        assert seen.header_values("x-added") == ["0", "1"]
        assert seen.header_values("x-set") == ["2"]
        assert seen.header("x-gone") is None
        assert reply.header("x-resp-added") == "yes"
        assert reply.header("x-replace") == "new"
        assert reply.header("x-drop") is None


def test_forwarding_headers_and_request_id_are_added_and_preserved() -> None:
    with backends(1) as (backend,):
        document = config(
            [backend],
            forwarding={
                "x_forwarded_for": True,
                "x_forwarded_proto": True,
                "forwarded": True,
                "request_id_header": "x-request-id",
            },
        )
        with running(document) as proxy:
            request(proxy.port, "/one", {"X-Forwarded-For": "10.0.0.1"})
            request(proxy.port, "/two", {"X-Request-Id": "client-chosen-17"})
            request(proxy.port, "/three")
        one, two, three = backend.received
        assert one.header_values("x-forwarded-for") in (
            ["10.0.0.1, 127.0.0.1"],
            ["10.0.0.1", "127.0.0.1"],
        )
        assert two.header("x-forwarded-for") == "127.0.0.1"
        assert one.header("x-forwarded-proto") == "http"
        forwarded = (one.header("forwarded") or "").lower()
        assert "for=127.0.0.1" in forwarded or 'for="127.0.0.1"' in forwarded
        assert "proto=http" in forwarded
        assert two.header("x-request-id") == "client-chosen-17"
        generated = [one.header("x-request-id"), three.header("x-request-id")]
        assert all(generated) and generated[0] != generated[1]


def test_forwarding_headers_can_be_turned_off() -> None:
    with backends(1) as (backend,):
        document = config(
            [backend],
            forwarding={
                "x_forwarded_for": False,
                "x_forwarded_proto": False,
                "forwarded": False,
                "request_id_header": None,
            },
        )
        with running(document) as proxy:
            assert proxy.get("/").status == 200
        seen = backend.received[0]
        for name in ("x-forwarded-for", "x-forwarded-proto", "forwarded", "x-request-id"):
            assert seen.header(name) is None, name


def test_paths_are_normalised_before_routing_and_forwarded_as_routed() -> None:
    with backends(2) as (admin, public):
        document = config([public])
        document["pools"].append(_pool("admin", admin))
        document["listeners"][0]["routes"] = [_route("admin", "admin", None, "prefix", "/admin")]
        with running(document) as proxy:
            for dodge in ("/%61dmin", "/x/../admin", "//admin", "/public/%2e%2e/admin", "/./admin"):
                reply = proxy.get(dodge)
                assert (dodge, reply.status, reply.header("x-backend")) == (dodge, 200, "b0")
            # The query is left alone; escapes of reserved characters stay (hex upper-cased).
            assert proxy.get("/%61dmin/a%2fb?q=/../%61").status == 200
            assert proxy.get("/public/page").header("x-backend") == "b1"
        assert [r.target for r in admin.received] == [
            "/admin",
            "/admin",
            "/admin",
            "/admin",
            "/admin",
            "/admin/a%2Fb?q=/../%61",
        ]
        assert [r.target for r in public.received] == ["/public/page"]


def test_invalid_percent_encoding_in_the_path_is_refused_and_never_forwarded() -> None:
    with backends(1) as (backend,), running(config([backend])) as proxy:
        for bad in ("/%zz", "/a%4", "/%"):
            with raw_connection(proxy.port) as (sock, rfile):
                sock.sendall(f"GET {bad} HTTP/1.1\r\nHost: h\r\n\r\n".encode())
                reply = RawResponse.read(rfile)
                assert (bad, reply.status, reply.header("connection")) == (bad, 400, "close")
                assert closed_by_peer(sock, rfile)
        assert backend.received == []


def test_hidden_dot_segments_and_fragments_are_refused_and_never_forwarded() -> None:
    with backends(1) as (backend,), running(config([backend])) as proxy:
        for bad in ("/public%2F..%2Fadmin", "/public/..;/admin", "/public/..%5Cadmin", "/p#/../a"):
            with raw_connection(proxy.port) as (sock, rfile):
                sock.sendall(f"GET {bad} HTTP/1.1\r\nHost: h\r\n\r\n".encode())
                reply = RawResponse.read(rfile)
                assert (bad, reply.status) == (bad, 400)
                assert closed_by_peer(sock, rfile)
        assert proxy.get("/public/a;b/x..%2Fy").status == 200
        assert backend.received[0].target == "/public/a;b/x..%2Fy"
        assert len(backend.received) == 1
