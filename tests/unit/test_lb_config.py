"""The load balancer configuration model: defaults, the engine's JSON shape, and clear errors."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.self_signed import write_self_signed
from thecloud.core.errors import InvalidArgumentError
from thecloud.dataplane.lb import (
    Backend,
    Listener,
    LoadBalancerConfig,
    Pool,
    Route,
)

pytestmark = pytest.mark.unit

Document = dict[str, Any]


def minimal() -> Document:
    return {
        "listeners": [{"bind": "127.0.0.1:8080"}],
        "pools": [{"name": "app", "backends": [{"address": "127.0.0.1:9001"}]}],
    }


# The contract's document for `minimal()`: every key present, defaults filled in.
MINIMAL_NATIVE: Document = {
    "workers": 1,
    "listeners": [
        {
            "name": "listener-0",
            "bind": "127.0.0.1:8080",
            "tls": None,
            "default_pool": "app",
            "routes": [],
        }
    ],
    "pools": [
        {
            "name": "app",
            "backends": [{"address": "127.0.0.1:9001", "weight": 1}],
            "algorithm": {"kind": "round_robin", "hash_on": None, "key": None, "cookie": None},
            "health_check": None,
            "outlier": None,
            "slow_start_ms": 0,
            "max_connections_per_backend": 0,
            "max_idle_per_backend": 64,
            "idle_timeout_ms": 60000,
            "retries": {"attempts": 1, "budget_percent": 20, "min_per_second": 10},
            "circuit_breaker": None,
        }
    ],
    "timeouts": {"connect_ms": 2000, "request_headers_ms": 10000, "idle_ms": 60000, "total_ms": 0},
    "limits": {
        "max_connections": 10000,
        "max_header_bytes": 16384,
        "max_headers": 100,
        "rate_limit": None,
    },
    "forwarding": {
        "x_forwarded_for": True,
        "x_forwarded_proto": True,
        "forwarded": False,
        "request_id_header": "x-request-id",
    },
    "access_log": {"enabled": False, "path": None},
}


def _write_pair(directory: Path, name: str, common_name: str) -> tuple[Path, Path]:
    written = write_self_signed(directory, name, common_name)
    return written.cert_file, written.key_file


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    """A matching self-signed certificate and key."""
    return _write_pair(tmp_path, "site", "a.example")


def full(cert_file: Path, key_file: Path, log_dir: Path) -> Document:
    """A document using every feature."""
    return {
        "workers": 2,
        "listeners": [
            {
                "name": "web",
                "bind": "[::1]:8443",
                "tls": {
                    "certificates": [
                        {
                            "cert_file": str(cert_file),
                            "key_file": str(key_file),
                            "server_names": ["a.example", "*.b.example"],
                        }
                    ]
                },
                "default_pool": None,
                "routes": [
                    {
                        "name": "api",
                        "host": "api.example",
                        "path": {"kind": "prefix", "value": "/v1/"},
                        "pool": "app",
                        "request_headers": {
                            "add": [["x-a", "1"]],
                            "set": [["x-b", "2"]],
                            "remove": ["x-c"],
                        },
                        "response_headers": {"add": [], "set": [], "remove": ["server"]},
                    },
                    {
                        "name": "static",
                        "host": "*.example",
                        "path": {"kind": "regex", "value": r"^/static/[a-z0-9]+\.(css|js)$"},
                        "pool": "sticky",
                        "request_headers": {"add": [], "set": [], "remove": []},
                        "response_headers": {"add": [], "set": [], "remove": []},
                    },
                ],
            },
            {
                "name": "plain",
                "bind": "127.0.0.1:0",
                "tls": None,
                "default_pool": "app",
                "routes": [],
            },
        ],
        "pools": [
            {
                "name": "app",
                "backends": [
                    {"address": "10.0.0.1:80", "weight": 3},
                    {"address": "[2001:db8::1]:8080", "weight": 1000},
                ],
                "algorithm": {
                    "kind": "consistent_hash",
                    "hash_on": "header",
                    "key": "x-user",
                    "cookie": None,
                },
                "health_check": {
                    "path": "/healthz?full=1",
                    "interval_ms": 500,
                    "timeout_ms": 250,
                    "rise": 1,
                    "fall": 2,
                    "expected_status": [[200, 299], [301, 301]],
                    "host": "health.internal",
                },
                "outlier": {
                    "consecutive_5xx": 4,
                    "consecutive_connect_failures": 0,
                    "ejection_ms": 1000,
                    "max_ejected_percent": 100,
                },
                "slow_start_ms": 5000,
                "max_connections_per_backend": 100,
                "max_idle_per_backend": 8,
                "idle_timeout_ms": 30000,
                "retries": {"attempts": 2, "budget_percent": 10, "min_per_second": 0},
                "circuit_breaker": {
                    "failure_ratio": 0.25,
                    "min_requests": 5,
                    "window_ms": 1000,
                    "open_ms": 200,
                },
            },
            {
                "name": "sticky",
                "backends": [{"address": "10.0.0.2:80", "weight": 1}],
                "algorithm": {
                    "kind": "sticky_cookie",
                    "hash_on": None,
                    "key": None,
                    "cookie": {"name": "SESSION_ID", "ttl_ms": 3600000},
                },
                "health_check": None,
                "outlier": None,
                "slow_start_ms": 0,
                "max_connections_per_backend": 0,
                "max_idle_per_backend": 64,
                "idle_timeout_ms": 60000,
                "retries": {"attempts": 0, "budget_percent": 20, "min_per_second": 10},
                "circuit_breaker": None,
            },
        ],
        "timeouts": {"connect_ms": 100, "request_headers_ms": 500, "idle_ms": 1000, "total_ms": 9},
        "limits": {
            "max_connections": 5,
            "max_header_bytes": 8192,
            "max_headers": 50,
            "rate_limit": {"requests_per_second": 2.5, "burst": 5},
        },
        "forwarding": {
            "x_forwarded_for": False,
            "x_forwarded_proto": True,
            "forwarded": True,
            "request_id_header": None,
        },
        "access_log": {"enabled": True, "path": str(log_dir / "lb.jsonl")},
    }


def test_a_minimal_document_gets_every_default_of_the_contract() -> None:
    config = LoadBalancerConfig.from_dict(minimal())
    assert config.to_dict() == MINIMAL_NATIVE
    assert json.loads(config.to_native()) == MINIMAL_NATIVE
    assert list(json.loads(config.to_native())) == list(MINIMAL_NATIVE), "contract key order"


def test_a_full_document_round_trips_exactly(pair: tuple[Path, Path], tmp_path: Path) -> None:
    document = full(*pair, tmp_path)
    config = LoadBalancerConfig.from_dict(document)
    assert config.to_dict() == document
    assert LoadBalancerConfig.from_dict(json.loads(config.to_native())) == config
    assert config.listeners[0].routes[1].path is not None
    assert config.pools[0].algorithm.key == "x-user"


def test_empty_sections_turn_features_on_with_defaults() -> None:
    document = minimal()
    document["pools"][0].update(
        health_check={}, outlier={}, circuit_breaker={}, algorithm={"kind": "sticky_cookie"}
    )
    document["limits"] = {"rate_limit": {}}
    native = LoadBalancerConfig.from_dict(document).to_dict()
    pool = native["pools"][0]
    assert pool["health_check"] == {
        "path": "/healthz",
        "interval_ms": 2000,
        "timeout_ms": 1000,
        "rise": 2,
        "fall": 3,
        "expected_status": [[200, 399]],
        "host": None,
    }
    assert pool["outlier"] == {
        "consecutive_5xx": 5,
        "consecutive_connect_failures": 3,
        "ejection_ms": 30000,
        "max_ejected_percent": 50,
    }
    assert pool["circuit_breaker"] == {
        "failure_ratio": 0.5,
        "min_requests": 20,
        "window_ms": 10000,
        "open_ms": 5000,
    }
    assert pool["algorithm"]["cookie"] == {"name": "tc_sticky", "ttl_ms": 0}
    assert native["limits"]["rate_limit"] == {"requests_per_second": 100.0, "burst": 200}


def test_consistent_hash_defaults_to_the_client_address() -> None:
    document = minimal()
    document["pools"][0]["algorithm"] = {"kind": "consistent_hash"}
    algorithm = LoadBalancerConfig.from_dict(document).pools[0].algorithm
    assert (algorithm.hash_on, algorithm.key) == ("client_ip", None)


def test_default_pool_is_implied_only_for_a_single_pool() -> None:
    document = minimal()
    document["pools"].append({"name": "other", "backends": [{"address": "127.0.0.1:9002"}]})
    assert LoadBalancerConfig.from_dict(document).listeners[0].default_pool is None
    single = minimal()
    single["listeners"][0]["default_pool"] = None
    assert LoadBalancerConfig.from_dict(single).listeners[0].default_pool is None


def test_addresses_names_and_paths_are_normalised(pair: tuple[Path, Path]) -> None:
    document = minimal()
    document["listeners"][0]["bind"] = "[0:0:0:0::1]:080"
    document["pools"][0]["backends"] = [{"address": "[2001:DB8:0::5]:443"}]
    document["listeners"][0]["routes"] = [{"host": "API.Example", "pool": "app"}]
    cert_file, key_file = pair
    relative = os.path.relpath(cert_file)
    document["listeners"][0]["tls"] = {
        "certificates": [{"cert_file": relative, "key_file": str(key_file)}]
    }
    config = LoadBalancerConfig.from_dict(document)
    assert config.listeners[0].bind == "[::1]:80"
    assert config.pools[0].backends[0].address == "[2001:db8::5]:443"
    assert config.listeners[0].routes[0].host == "api.example"
    assert config.listeners[0].routes[0].name == "route-0"
    assert config.listeners[0].tls is not None
    assert config.listeners[0].tls.certificates[0].cert_file == str(cert_file)


def test_direct_construction_is_validated_and_normalised() -> None:
    pool = Pool(name="app", backends=(Backend(address="[::0001]:81"),))
    config = LoadBalancerConfig(listeners=(Listener(name="web", bind="0.0.0.0:80"),), pools=(pool,))
    assert config.pools[0].backends[0].address == "[::1]:81"
    assert config.listeners[0].default_pool is None, "explicit None stays None"
    with pytest.raises(InvalidArgumentError, match=r"^pools\[0\]\.backends\[0\]\.weight: "):
        LoadBalancerConfig(
            listeners=(Listener(name="web", bind="0.0.0.0:80"),),
            pools=(Pool(name="app", backends=(Backend(address="10.0.0.1:80", weight=0),)),),
        )
    with pytest.raises(InvalidArgumentError, match=r"routes\[0\]\.pool: no pool named 'nope'"):
        LoadBalancerConfig(
            listeners=(
                Listener(name="web", bind="0.0.0.0:80", routes=(Route(name="r", pool="nope"),)),
            ),
            pools=(pool,),
        )
    with pytest.raises(InvalidArgumentError, match=r"^listeners: expected a list, got int"):
        LoadBalancerConfig(listeners=5)  # type: ignore[arg-type]


def test_the_model_is_immutable() -> None:
    config = LoadBalancerConfig.from_dict(minimal())
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.workers = 4  # type: ignore[misc]


Mutation = Callable[[Document], None]


def _set(path: str, value: object) -> Mutation:
    """Sets the value at a path like `a.b[0].c`, creating missing dicts and lists on the way
    (an index equal to a list's length appends)."""

    def mutate(document: Document) -> None:
        keys: list[str | int] = [
            int(part) if part.isdigit() else part for part in re.findall(r"[^.\[\]]+", path)
        ]
        node: Any = document
        for key, after in zip(keys, [*keys[1:], None], strict=True):
            fresh: Any = [] if isinstance(after, int) else {}
            if isinstance(key, int) and key == len(node):
                node.append(fresh)
            elif isinstance(key, str) and key not in node:
                node[key] = fresh
            if after is None:
                node[key] = value
            else:
                node = node[key]

    return mutate


def _drop(path: str) -> Mutation:
    def mutate(document: Document) -> None:
        *parents, last = path.split(".")
        node: Any = document
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        del node[last]

    return mutate


ROUTE = "listeners[0].routes[0]"
POOL = "pools[0]"

BAD_DOCUMENTS: list[tuple[Mutation, str | None]] = [
    # structure and required keys
    (_set("listeners", []), r"^listeners: at least one listener"),
    (_drop("listeners"), r"^listeners: is required"),
    (_drop("listeners.0.bind"), r"^listeners\[0\]\.bind: is required"),
    (_drop("pools.0.name"), r"^pools\[0\]\.name: is required"),
    (_drop("pools.0.backends"), r"^pools\[0\]\.backends: is required"),
    (_set("pools[0].backends", []), r"^pools\[0\]\.backends: at least one backend"),
    (_set("pools", {"name": "x"}), r"^pools: expected a list, got dict"),
    (_set("pools[0].backends[0]", "10.0.0.1:80"), r"^pools\[0\]\.backends\[0\]: expected an obj"),
    (_set("pools[0].helth_check", {}), r"^pools\[0\]\.helth_check: unknown key \(did you mean"),
    (_set("colour", "blue"), r"^colour: unknown key"),
    # names
    (_set("pools[0].name", "App"), r"^pools\[0\]\.name: 'App' is not a valid name"),
    (_set("pools[0].name", "-app"), r"^pools\[0\]\.name: "),
    (_set("pools[0].name", "a" * 64), r"^pools\[0\]\.name: "),
    (_set("listeners[0].name", "web_1"), r"^listeners\[0\]\.name: 'web_1' is not a valid"),
    (
        _set("pools[1]", {"name": "app", "backends": [{"address": "10.0.0.9:1"}]}),
        r"^pools\[1\]\.name: duplicate pool",
    ),
    (
        _set("listeners[1]", {"name": "listener-0", "bind": "127.0.0.1:8081"}),
        r"^listeners\[1\]\.name: duplicate listener name",
    ),
    (
        _set("listeners[0].routes", [{"name": "r", "pool": "app"}, {"name": "r", "pool": "app"}]),
        r"^listeners\[0\]\.routes\[1\]\.name: duplicate route name 'r'",
    ),
    # addresses
    (
        _set("pools[0].backends[0].address", "10.0.0.1"),
        r"^pools\[0\]\.backends\[0\]\.address: '10.0.0.1' is not host:port",
    ),
    (
        _set("pools[0].backends[0].address", "backend.internal:80"),
        r"^pools\[0\]\.backends\[0\]\.address: .*not hostnames \(the engine does not resolve",
    ),
    (
        _set("pools[0].backends[0].address", "10.0.0.1:0"),
        r"port must be a number within 1\.\.65535",
    ),
    (_set("pools[0].backends[0].address", "10.0.0.1:65536"), r"within 1\.\.65535"),
    (_set("pools[0].backends[0].address", "10.0.0.1:+80"), r"\.address: .*port must be"),
    (_set("pools[0].backends[0].address", "::1:80"), r"\.address: .*in brackets"),
    (_set("pools[0].backends[0].address", "[fe80::1%eth0]:80"), r"zone identifiers"),
    (_set("pools[0].backends[0].address", "0.0.0.0:80"), r"unspecified or multicast"),
    (_set("pools[0].backends[0].address", 8080), r"\.address: expected a string, got int"),
    (
        _set("pools[0].backends[1]", {"address": "127.0.0.1:9001"}),
        r"^pools\[0\]\.backends\[1\]\.address: '127.0.0.1:9001' is already "
        r"pools\[0\]\.backends\[0\]",
    ),
    (
        _set("listeners[0].bind", "localhost:80"),
        r"^listeners\[0\]\.bind: 'localhost:80': 'localhost' is not an IP",
    ),
    (_set("listeners[0].bind", "127.0.0.1:70000"), r"^listeners\[0\]\.bind: .*within 0\.\.65535"),
    (
        _set("listeners[1]", {"name": "two", "bind": "0.0.0.0:8080"}),
        r"^listeners\[1\]\.bind: '0.0.0.0:8080' conflicts with listeners\[0\]\.bind",
    ),
    # weights and numbers
    (_set("pools[0].backends[0].weight", 0), r"\.weight: 0 is not within 1\.\.1000"),
    (_set("pools[0].backends[0].weight", 1001), r"\.weight: 1001 is not within 1\.\.1000"),
    (_set("pools[0].backends[0].weight", 2.0), r"\.weight: expected an integer, got float"),
    (_set("pools[0].backends[0].weight", True), r"\.weight: expected an integer, got bool"),
    (_set("workers", 0), r"^workers: 0 is not within 1\.\."),
    (_set("timeouts.connect_ms", 0), r"^timeouts\.connect_ms: 0 is not within 1\.\."),
    (_set("timeouts.total_ms", -1), r"^timeouts\.total_ms: -1 is not within 0\.\."),
    (_set("pools[0].idle_timeout_ms", 0), r"^pools\[0\]\.idle_timeout_ms: "),
    (_set("pools[0].slow_start_ms", -5), r"^pools\[0\]\.slow_start_ms: "),
    (_set("limits.max_header_bytes", 100), r"^limits\.max_header_bytes: 100 is not within"),
    (
        _set("limits.rate_limit", {"requests_per_second": 0}),
        r"^limits\.rate_limit\.requests_per_second: 0 is not within \(0",
    ),
    (_set("limits.rate_limit", {"requests_per_second": float("nan")}), r"requests_per_second: nan"),
    (_set("limits.rate_limit", {"burst": 0}), r"^limits\.rate_limit\.burst: 0 is not within 1\.\."),
    (_set("forwarding.forwarded", 1), r"^forwarding\.forwarded: expected true or false, got int"),
    # routes and paths
    (
        _set(f"{ROUTE}", {"pool": "nope"}),
        r"^listeners\[0\]\.routes\[0\]\.pool: no pool named 'nope'",
    ),
    (
        _set("listeners[0].default_pool", "nope"),
        r"^listeners\[0\]\.default_pool: no pool named 'nope'",
    ),
    (_set(f"{ROUTE}", {"path": {"kind": "exact", "value": "/"}}), None),
    (
        _set(f"{ROUTE}.path", {"kind": "glob", "value": "/"}),
        r"\.path\.kind: 'glob' is not one of exact, prefix, regex",
    ),
    (
        _set(f"{ROUTE}.path", {"kind": "prefix", "value": "api"}),
        r"\.path\.value: 'api' must start with '/'",
    ),
    (_set(f"{ROUTE}.path", {"kind": "exact", "value": "/a b"}), r"\.path\.value: "),
    (
        _set(f"{ROUTE}.path", {"kind": "regex", "value": "(unclosed"}),
        r"\.path\.value: '\(unclosed' is not a valid regex",
    ),
    (
        _set(f"{ROUTE}.path", {"kind": "regex", "value": "^/(?=admin)"}),
        r"\.path\.value: .*lookaround",
    ),
    (_set(f"{ROUTE}.path", {"kind": "regex", "value": "^/(?<!x)a"}), r"lookaround"),
    (_set(f"{ROUTE}.path", {"kind": "regex", "value": r"^/(a)\1"}), r"backreferences"),
    (_set(f"{ROUTE}.path", {"kind": "regex", "value": r"^/(?P<x>a)(?P=x)"}), r"backreferences"),
    (_set(f"{ROUTE}.path", {"kind": "regex", "value": r"^/(?>a)"}), r"atomic groups"),
    (_set(f"{ROUTE}.path", {"kind": "regex", "value": r"^/a++"}), r"possessive"),
    (_set(f"{ROUTE}.path", {"kind": "regex", "value": ""}), r"\.path\.value: empty regex"),
    (_set(f"{ROUTE}.path", {"kind": "regex", "value": r"^/a\Z"}), r"\\Z is not supported"),
    (_set(f"{ROUTE}.path", {"kind": "regex", "value": r"^/a\++(?P<id>[0-9]+)$"}), None),
    (_set(f"{ROUTE}.path", {"kind": "exact", "value": "/a?b=1"}), r"without its query string"),
    (
        _set(f"{ROUTE}.path", {"kind": "prefix", "value": "/%61dmin"}),
        r"\.path\.value: '/%61dmin' never matches: .* use '/admin'",
    ),
    (_set(f"{ROUTE}.path", {"kind": "exact", "value": "/a/../b"}), r"use '/b'"),
    (_set(f"{ROUTE}.path", {"kind": "prefix", "value": "//api"}), r"use '/api'"),
    (_set(f"{ROUTE}.path", {"kind": "exact", "value": "/a%2fb"}), r"use '/a%2Fb'"),
    (_set(f"{ROUTE}.path", {"kind": "exact", "value": "/a%zz"}), r"\.path\.value: .*percent"),
    (_set(f"{ROUTE}.path", {"kind": "prefix", "value": "/a%2Fb/"}), None),
    (_set(f"{ROUTE}.path", {"kind": "regex", "value": "^//x"}), None),
    (_set(f"{ROUTE}.host", "api.example:8080"), r"\.host: 'api.example:8080' is not a hostname"),
    (_set(f"{ROUTE}.host", "a.*.example"), r"\.host: "),
    (_set(f"{ROUTE}.host", "10.0.0.1"), r"\.host: "),
    # header rules
    (
        _set(f"{ROUTE}.request_headers", {"add": [["bad name", "1"]]}),
        r"\.request_headers\.add\[0\]\[0\]: 'bad name' is not a valid header name",
    ),
    (
        _set(f"{ROUTE}.request_headers", {"set": [["x-a", "1\r\nx-b: 2"]]}),
        r"\.request_headers\.set\[0\]\[1\]: header values may not contain CR, LF, NUL",
    ),
    (
        _set(f"{ROUTE}.response_headers", {"add": [["x-a", "a\0b"]]}),
        r"\.response_headers\.add\[0\]\[1\]: .*NUL",
    ),
    (
        _set(f"{ROUTE}.response_headers", {"add": [["x-a", "a\x01b"]]}),
        r"other control characters",
    ),
    (_set(f"{ROUTE}.response_headers", {"add": [["x-a", "a\tb \u00e9"]]}), None),
    (
        _set(f"{ROUTE}.request_headers", {"add": [["x-a"]]}),
        r"\.request_headers\.add\[0\]: expected a \[name, value\] pair",
    ),
    (
        _set(f"{ROUTE}.request_headers", {"set": [["Content-Length", "0"]]}),
        r"\.set\[0\]\[0\]: 'Content-Length' frames the message",
    ),
    (
        _set(f"{ROUTE}.request_headers", {"remove": ["transfer-encoding"]}),
        r"\.remove\[0\]: 'transfer-encoding' frames",
    ),
    (_set(f"{ROUTE}.request_headers", {"append": []}), r"\.request_headers\.append: unknown key"),
    (_set("forwarding.request_id_header", "x request"), r"^forwarding\.request_id_header: "),
    (
        _set("forwarding.request_id_header", "Content-Length"),
        r"^forwarding\.request_id_header: 'Content-Length' frames the message",
    ),
    # algorithms
    (
        _set("pools[0].algorithm", {"kind": "random"}),
        r"^pools\[0\]\.algorithm\.kind: 'random' is not one of",
    ),
    (
        _set("pools[0].algorithm", {"kind": "consistent_hash", "hash_on": "header"}),
        r"^pools\[0\]\.algorithm\.key: is required",
    ),
    (
        _set("pools[0].algorithm", {"kind": "consistent_hash", "hash_on": "cookie"}),
        r"^pools\[0\]\.algorithm\.key: is required",
    ),
    (
        _set("pools[0].algorithm", {"kind": "consistent_hash", "hash_on": "client_ip", "key": "x"}),
        r"\.algorithm\.key: only for hash_on",
    ),
    (
        _set("pools[0].algorithm", {"kind": "consistent_hash", "hash_on": "path"}),
        r"\.algorithm\.hash_on: 'path' is not one of",
    ),
    (
        _set("pools[0].algorithm", {"kind": "round_robin", "hash_on": "client_ip"}),
        r"\.algorithm\.hash_on: only for algorithm kind 'consistent_hash'",
    ),
    (
        _set("pools[0].algorithm", {"kind": "round_robin", "cookie": {}}),
        r"\.algorithm\.cookie: only for algorithm kind 'sticky_cookie'",
    ),
    (
        _set("pools[0].algorithm", {"kind": "sticky_cookie", "cookie": {"name": "a=b"}}),
        r"\.algorithm\.cookie\.name: ",
    ),
    (
        _set("pools[0].algorithm", {"kind": "sticky_cookie", "cookie": {"ttl_ms": -1}}),
        r"\.algorithm\.cookie\.ttl_ms: ",
    ),
    # health, outlier, retries, breaker
    (
        _set("pools[0].health_check", {"expected_status": [[200, 600]]}),
        r"^pools\[0\]\.health_check\.expected_status\[0\]: "
        r"\[200, 600\] is not a range within 100\.\.599",
    ),
    (
        _set("pools[0].health_check", {"expected_status": [[399, 200]]}),
        r"expected_status\[0\]: \[399, 200\]",
    ),
    (_set("pools[0].health_check", {"expected_status": [99]}), r"expected_status\[0\]: \[99, 99\]"),
    (_set("pools[0].health_check", {"expected_status": []}), r"expected_status: at least one"),
    (
        _set("pools[0].health_check", {"expected_status": ["2xx"]}),
        r"expected_status\[0\]: expected a status",
    ),
    (
        _set("pools[0].health_check", {"interval_ms": 0}),
        r"health_check\.interval_ms: 0 is not within 1",
    ),
    (
        _set("pools[0].health_check", {"interval_ms": 100, "timeout_ms": 200}),
        r"health_check\.timeout_ms: 200 exceeds interval_ms 100",
    ),
    (_set("pools[0].health_check", {"rise": 0}), r"health_check\.rise: "),
    (_set("pools[0].health_check", {"path": "healthz"}), r"health_check\.path: "),
    (_set("pools[0].health_check", {"host": "bad host"}), r"health_check\.host: "),
    (_set("pools[0].outlier", {"ejection_ms": 0}), r"^pools\[0\]\.outlier\.ejection_ms: "),
    (_set("pools[0].outlier", {"max_ejected_percent": 101}), r"outlier\.max_ejected_percent: 101"),
    (
        _set("pools[0].outlier", {"consecutive_5xx": 0, "consecutive_connect_failures": 0}),
        r"outlier\.consecutive_5xx: 0 together",
    ),
    (_set("pools[0].retries", {"attempts": -1}), r"^pools\[0\]\.retries\.attempts: "),
    (_set("pools[0].retries", {"budget_percent": 101}), r"retries\.budget_percent: "),
    (
        _set("pools[0].circuit_breaker", {"failure_ratio": 0}),
        r"circuit_breaker\.failure_ratio: 0 is not within \(0, 1\]",
    ),
    (
        _set("pools[0].circuit_breaker", {"failure_ratio": 1.5}),
        r"circuit_breaker\.failure_ratio: 1\.5",
    ),
    (
        _set("pools[0].circuit_breaker", {"failure_ratio": "half"}),
        r"failure_ratio: expected a number",
    ),
    (_set("pools[0].circuit_breaker", {"min_requests": 0}), r"circuit_breaker\.min_requests: "),
    (_set("pools[0].circuit_breaker", {"open_ms": 0}), r"circuit_breaker\.open_ms: "),
    # access log
    (
        _set("access_log", {"enabled": True, "path": "lb.jsonl"}),
        r"^access_log\.path: 'lb.jsonl' must be an absolute path",
    ),
    (
        _set("access_log", {"path": "/nonexistent-dir/lb.jsonl"}),
        r"^access_log\.path: the directory of",
    ),
]


@pytest.mark.parametrize(("mutate", "message"), BAD_DOCUMENTS)
def test_each_bad_field_is_named_in_the_error(mutate: Mutation, message: str | None) -> None:
    document = minimal()
    mutate(document)
    untouched = copy.deepcopy(document)
    if message is None:  # a control: the mutation alone is valid
        LoadBalancerConfig.from_dict(document)
        return
    with pytest.raises(InvalidArgumentError, match=message):
        LoadBalancerConfig.from_dict(document)
    assert document == untouched, "validation must not modify its input"


def test_a_route_without_pool_needs_a_default_pool() -> None:
    document = minimal()
    document["pools"].append({"name": "b", "backends": [{"address": "127.0.0.1:9"}]})
    document["listeners"][0]["routes"] = [{"name": "r"}]
    with pytest.raises(InvalidArgumentError, match=r"routes\[0\]\.pool: is required"):
        LoadBalancerConfig.from_dict(document)
    document["listeners"][0]["default_pool"] = "b"
    route = LoadBalancerConfig.from_dict(document).listeners[0].routes[0]
    assert route.pool == "b"


def test_listeners_on_different_ports_or_ephemeral_ports_do_not_conflict() -> None:
    document = minimal()
    document["listeners"] = [
        {"name": "a", "bind": "0.0.0.0:80"},
        {"name": "b", "bind": "0.0.0.0:81"},
        {"name": "c", "bind": "127.0.0.1:0"},
        {"name": "d", "bind": "127.0.0.1:0"},
        {"name": "e", "bind": "127.0.0.2:82"},
        {"name": "f", "bind": "127.0.0.3:82"},
    ]
    assert len(LoadBalancerConfig.from_dict(document).listeners) == 6


def test_the_document_must_be_an_object() -> None:
    with pytest.raises(InvalidArgumentError, match=r"^config: expected an object, got list"):
        LoadBalancerConfig.from_dict([])
    with pytest.raises(InvalidArgumentError, match=r"keys must be strings"):
        LoadBalancerConfig.from_dict({1: 2})


class TestTls:
    """Certificates are read, parsed and matched with their key at validation time."""

    def _document(self, cert_file: Path | str, key_file: Path | str) -> Document:
        document = minimal()
        document["listeners"][0]["tls"] = {
            "certificates": [{"cert_file": str(cert_file), "key_file": str(key_file)}]
        }
        return document

    def test_a_matching_pair_is_accepted(self, pair: tuple[Path, Path]) -> None:
        tls = LoadBalancerConfig.from_dict(self._document(*pair)).listeners[0].tls
        assert tls is not None
        assert tls.certificates[0].server_names == ()

    def test_a_missing_file_is_named(self, pair: tuple[Path, Path], tmp_path: Path) -> None:
        missing = tmp_path / "missing.pem"
        with pytest.raises(
            InvalidArgumentError,
            match=r"^listeners\[0\]\.tls\.certificates\[0\]\.cert_file: cannot read .*No such file",
        ):
            LoadBalancerConfig.from_dict(self._document(missing, pair[1]))

    def test_an_unreadable_file_is_refused(self, pair: tuple[Path, Path]) -> None:
        if os.geteuid() == 0:
            # root reads any file: a directory stands in for an unreadable path
            unreadable = pair[0].parent
        else:
            unreadable = pair[0]
            unreadable.chmod(0)
        with pytest.raises(InvalidArgumentError, match=r"\.cert_file: cannot read"):
            LoadBalancerConfig.from_dict(self._document(unreadable, pair[1]))

    def test_files_without_pem_blocks_are_refused(
        self, pair: tuple[Path, Path], tmp_path: Path
    ) -> None:
        junk = tmp_path / "junk.pem"
        junk.write_text("hello\n")
        with pytest.raises(InvalidArgumentError, match=r"\.cert_file: .* holds no PEM CERTIFICATE"):
            LoadBalancerConfig.from_dict(self._document(junk, pair[1]))
        with pytest.raises(InvalidArgumentError, match=r"\.key_file: .* holds no PEM PRIVATE KEY"):
            LoadBalancerConfig.from_dict(self._document(pair[0], pair[0]))

    def test_a_broken_certificate_is_refused(self, pair: tuple[Path, Path], tmp_path: Path) -> None:
        broken = tmp_path / "broken.pem"
        broken.write_text("-----BEGIN CERTIFICATE-----\nnot a certificate\n")
        with pytest.raises(InvalidArgumentError, match=r"\.cert_file: .* not a valid PEM certif"):
            LoadBalancerConfig.from_dict(self._document(broken, pair[1]))

    def test_a_key_of_another_certificate_is_refused(
        self, pair: tuple[Path, Path], tmp_path: Path
    ) -> None:
        _, other_key = _write_pair(tmp_path, "other", "b.example")
        with pytest.raises(InvalidArgumentError, match=r"\.key_file: .* is not the key of"):
            LoadBalancerConfig.from_dict(self._document(pair[0], other_key))

    def test_an_encrypted_key_is_refused(self, pair: tuple[Path, Path], tmp_path: Path) -> None:
        key = serialization.load_pem_private_key(pair[1].read_bytes(), password=None)
        encrypted = tmp_path / "encrypted.key"
        encrypted.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(b"secret"),
            )
        )
        with pytest.raises(InvalidArgumentError, match=r"\.key_file: .* is encrypted"):
            LoadBalancerConfig.from_dict(self._document(pair[0], encrypted))

    def test_server_names_and_certificate_list_are_checked(self, pair: tuple[Path, Path]) -> None:
        document = self._document(*pair)
        document["listeners"][0]["tls"]["certificates"][0]["server_names"] = ["ok.example", "b@d"]
        with pytest.raises(InvalidArgumentError, match=r"\.server_names\[1\]: 'b@d' is not"):
            LoadBalancerConfig.from_dict(document)
        document["listeners"][0]["tls"] = {"certificates": []}
        with pytest.raises(InvalidArgumentError, match=r"tls\.certificates: at least one"):
            LoadBalancerConfig.from_dict(document)


# --- property: any valid document round-trips through the engine's JSON ---------------------

_names = st.from_regex(r"[a-z][a-z0-9-]{0,10}[a-z0-9]", fullmatch=True)
_ports = st.integers(1, 65535)
_ipv4 = st.tuples(*[st.integers(1, 223)] + [st.integers(0, 255)] * 3).map(
    lambda t: ".".join(map(str, t))
)
_algorithms = st.one_of(
    st.sampled_from(
        ["round_robin", "weighted_round_robin", "least_connections", "power_of_two"]
    ).map(lambda kind: {"kind": kind}),
    st.just({"kind": "consistent_hash", "hash_on": "client_ip"}),
    st.builds(
        lambda on, key: {"kind": "consistent_hash", "hash_on": on, "key": key},
        st.sampled_from(["header", "cookie"]),
        _names,
    ),
    st.builds(
        lambda name, ttl: {"kind": "sticky_cookie", "cookie": {"name": name, "ttl_ms": ttl}},
        _names,
        st.integers(0, 10**9),
    ),
)


@st.composite
def documents(draw: st.DrawFn) -> Document:
    pool_names = draw(st.lists(_names, min_size=1, max_size=3, unique=True))
    pools = []
    for name in pool_names:
        addresses = draw(st.lists(st.tuples(_ipv4, _ports), min_size=1, max_size=4, unique=True))
        pool: Document = {
            "name": name,
            "backends": [
                {"address": f"{ip}:{port}", "weight": draw(st.integers(1, 1000))}
                for ip, port in addresses
            ],
            "algorithm": draw(_algorithms),
            "slow_start_ms": draw(st.integers(0, 60_000)),
        }
        if draw(st.booleans()):
            interval = draw(st.integers(1, 10_000))
            pool["health_check"] = {
                "interval_ms": interval,
                "timeout_ms": draw(st.integers(1, interval)),
                "expected_status": [
                    sorted(draw(st.lists(st.integers(100, 599), min_size=2, max_size=2)))
                ],
            }
        if draw(st.booleans()):
            pool["circuit_breaker"] = {
                "failure_ratio": draw(st.floats(0.01, 1.0)),
                "min_requests": draw(st.integers(1, 100)),
            }
        pools.append(pool)
    routes = [
        {
            "name": f"r{i}",
            "pool": draw(st.sampled_from(pool_names)),
            "host": draw(st.none() | _names.map(lambda n: f"{n}.example")),
            "path": draw(
                st.none()
                | st.builds(
                    lambda kind, tail: {"kind": kind, "value": f"/{tail}"},
                    st.sampled_from(["exact", "prefix"]),
                    _names,
                )
            ),
            "request_headers": {"add": [[f"x-{draw(_names)}", draw(_names)]]},
        }
        for i in range(draw(st.integers(0, 3)))
    ]
    return {
        "workers": draw(st.integers(1, 8)),
        "listeners": [{"name": "web", "bind": f"127.0.0.1:{draw(_ports)}", "routes": routes}],
        "pools": pools,
        "limits": {
            "rate_limit": draw(
                st.none()
                | st.builds(
                    lambda rps, burst: {"requests_per_second": rps, "burst": burst},
                    st.floats(0.001, 1e6),
                    st.integers(1, 10**6),
                )
            )
        },
    }


@pytest.mark.property
@settings(max_examples=60, deadline=None)
@given(documents())
def test_every_valid_document_round_trips_through_the_native_json(document: Document) -> None:
    config = LoadBalancerConfig.from_dict(document)
    native = json.loads(config.to_native())
    assert LoadBalancerConfig.from_dict(native) == config
    assert LoadBalancerConfig.from_dict(native).to_dict() == native
