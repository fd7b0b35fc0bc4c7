"""The load balancer's configuration model: validated, immutable, and serialisable to the JSON
document the native engine reads.

    config = LoadBalancerConfig.from_dict({
        "listeners": [{"bind": "0.0.0.0:80"}],
        "pools": [{"name": "app", "backends": [{"address": "10.0.0.5:8080"}]}],
    })
    engine_json = config.to_native()

Every key is optional except `listeners[].bind`, `pools[].name` and `pools[].backends`. Optional
sections that switch a feature on (`tls`, `health_check`, `outlier`, `circuit_breaker`,
`rate_limit`) are off when absent or null; `{}` turns them on with the defaults below. A
listener without `default_pool` sends unmatched requests to the pool when there is exactly one,
and answers 404 otherwise (an explicit null always means 404). Durations are in milliseconds.

Constructing the dataclasses directly is validated too: `LoadBalancerConfig.__post_init__`
checks the whole tree and normalises it (addresses, lowercase names), so no invalid
configuration object exists.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, cast

from thecloud.core.errors import InvalidArgumentError
from thecloud.dataplane.lb.validation import (
    ConfigReader,
    check_absolute_file_parent,
    check_certificate_pair,
    check_header_name,
    check_header_value,
    check_host_pattern,
    check_name,
    check_regex,
    check_route_path,
    check_url_path,
    fail,
    parse_socket_address,
)

__all__ = [
    "AccessLog",
    "Algorithm",
    "AlgorithmKind",
    "Backend",
    "Certificate",
    "CircuitBreaker",
    "Forwarding",
    "HashOn",
    "HeaderRules",
    "HealthCheck",
    "Limits",
    "Listener",
    "LoadBalancerConfig",
    "Outlier",
    "PathKind",
    "PathMatch",
    "Pool",
    "RateLimit",
    "Retries",
    "Route",
    "StickyCookie",
    "Timeouts",
    "Tls",
]

PathKind = Literal["exact", "prefix", "regex"]
AlgorithmKind = Literal[
    "round_robin",
    "weighted_round_robin",
    "least_connections",
    "power_of_two",
    "consistent_hash",
    "sticky_cookie",
]
HashOn = Literal["client_ip", "header", "cookie"]
_Choice = TypeVar("_Choice", bound=str)

_PATH_KINDS: tuple[PathKind, ...] = ("exact", "prefix", "regex")
_ALGORITHMS: tuple[AlgorithmKind, ...] = (
    "round_robin",
    "weighted_round_robin",
    "least_connections",
    "power_of_two",
    "consistent_hash",
    "sticky_cookie",
)
_HASH_ON: tuple[HashOn, ...] = ("client_ip", "header", "cookie")

DAY_MS = 86_400_000
MAX_WEIGHT = 1000
MAX_BACKENDS = 10_000
MAX_WORKERS = 256


@dataclass(frozen=True, slots=True)
class PathMatch:
    """How a route matches the request path."""

    kind: PathKind
    value: str


@dataclass(frozen=True, slots=True)
class HeaderRules:
    """Header rewrites, applied in the order remove, set (replace), add."""

    add: tuple[tuple[str, str], ...] = ()
    set: tuple[tuple[str, str], ...] = ()
    remove: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Route:
    """Sends requests matching host and path to a pool; a listener's first match wins."""

    name: str
    pool: str
    host: str | None = None
    path: PathMatch | None = None
    request_headers: HeaderRules = HeaderRules()
    response_headers: HeaderRules = HeaderRules()


@dataclass(frozen=True, slots=True)
class Certificate:
    """A PEM certificate chain and key, served for `server_names` (SNI)."""

    cert_file: str
    key_file: str
    server_names: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Tls:
    """TLS termination; the first certificate answers clients whose SNI matches no other."""

    certificates: tuple[Certificate, ...]


@dataclass(frozen=True, slots=True)
class Listener:
    """A listening socket with its routes."""

    name: str
    bind: str
    tls: Tls | None = None
    default_pool: str | None = None
    routes: tuple[Route, ...] = ()


@dataclass(frozen=True, slots=True)
class Backend:
    """One upstream server."""

    address: str
    weight: int = 1


@dataclass(frozen=True, slots=True)
class StickyCookie:
    """The cookie of sticky sessions; `ttl_ms` 0 makes it a session cookie."""

    name: str = "tc_sticky"
    ttl_ms: int = 0


@dataclass(frozen=True, slots=True)
class Algorithm:
    """How a pool picks a backend."""

    kind: AlgorithmKind = "round_robin"
    hash_on: HashOn | None = None
    key: str | None = None
    cookie: StickyCookie | None = None


@dataclass(frozen=True, slots=True)
class HealthCheck:
    """Active HTTP checks: `rise` passes bring a backend up, `fall` failures take it down."""

    path: str = "/healthz"
    interval_ms: int = 2000
    timeout_ms: int = 1000
    rise: int = 2
    fall: int = 3
    expected_status: tuple[tuple[int, int], ...] = ((200, 399),)
    host: str | None = None


@dataclass(frozen=True, slots=True)
class Outlier:
    """Passive ejection of backends failing in a row; 0 disables a trigger."""

    consecutive_5xx: int = 5
    consecutive_connect_failures: int = 3
    ejection_ms: int = 30_000
    max_ejected_percent: int = 50


@dataclass(frozen=True, slots=True)
class Retries:
    """Extra tries of idempotent requests on another backend, within a budget."""

    attempts: int = 1
    budget_percent: int = 20
    min_per_second: int = 10


@dataclass(frozen=True, slots=True)
class CircuitBreaker:
    """Fails fast for `open_ms` once `failure_ratio` of the window's requests failed."""

    failure_ratio: float = 0.5
    min_requests: int = 20
    window_ms: int = 10_000
    open_ms: int = 5000


@dataclass(frozen=True, slots=True)
class Pool:
    """A set of backends with its balancing, health and resilience settings."""

    name: str
    backends: tuple[Backend, ...]
    algorithm: Algorithm = Algorithm()
    health_check: HealthCheck | None = None
    outlier: Outlier | None = None
    slow_start_ms: int = 0
    max_connections_per_backend: int = 0
    max_idle_per_backend: int = 64
    idle_timeout_ms: int = 60_000
    retries: Retries = Retries()
    circuit_breaker: CircuitBreaker | None = None


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Client-side and connect timeouts; `total_ms` 0 means no overall limit."""

    connect_ms: int = 2000
    request_headers_ms: int = 10_000
    idle_ms: int = 60_000
    total_ms: int = 0


@dataclass(frozen=True, slots=True)
class RateLimit:
    """Per-client-IP token bucket."""

    requests_per_second: float = 100.0
    burst: int = 200


@dataclass(frozen=True, slots=True)
class Limits:
    """Global connection, header and rate limits."""

    max_connections: int = 10_000
    max_header_bytes: int = 16_384
    max_headers: int = 100
    rate_limit: RateLimit | None = None


@dataclass(frozen=True, slots=True)
class Forwarding:
    """Headers the proxy adds about the client and the request."""

    x_forwarded_for: bool = True
    x_forwarded_proto: bool = True
    forwarded: bool = False
    request_id_header: str | None = "x-request-id"


@dataclass(frozen=True, slots=True)
class AccessLog:
    """Structured access log (JSON lines), written off the request path."""

    enabled: bool = False
    path: str | None = None


@dataclass(frozen=True, slots=True)
class LoadBalancerConfig:
    """A whole load balancer: listeners, pools and global settings."""

    listeners: tuple[Listener, ...]
    pools: tuple[Pool, ...] = ()
    workers: int = 1
    timeouts: Timeouts = Timeouts()
    limits: Limits = Limits()
    forwarding: Forwarding = Forwarding()
    access_log: AccessLog = AccessLog()

    def __post_init__(self) -> None:
        try:
            document = self.to_dict()
        except (AttributeError, TypeError) as error:
            raise InvalidArgumentError(
                f"config: build LoadBalancerConfig from the model's dataclasses ({error})"
            ) from error
        checked = _read_config(document)
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    @classmethod
    def from_dict(cls, document: object) -> LoadBalancerConfig:
        """Validates a configuration document (parsed JSON or YAML) into a config."""
        return cls(**_read_config(document))

    def to_dict(self) -> dict[str, Any]:
        """The contract's JSON shape with every key present (`from_dict` reads it back)."""
        document = cast(dict[str, Any], _plain(dataclasses.asdict(self)))
        # The contract's key order, for people reading the engine's document.
        return {"workers": document.pop("workers"), **document}

    def to_native(self) -> str:
        """The JSON document the native engine deserialises."""
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False)


def _plain(value: object) -> object:
    """Tuples to lists, recursively (`asdict` keeps tuples; JSON wants lists)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


# --- parsing -------------------------------------------------------------------------------


def _read_config(document: object) -> dict[str, Any]:
    root = ConfigReader(document, "")
    workers = root.integer("workers", 1, 1, MAX_WORKERS)
    pools = tuple(_read_pool(ConfigReader(v, p)) for p, v in root.items("pools"))
    _unique([p.name for p in pools], "pools", "pool")
    pool_names = {pool.name for pool in pools}
    listener_items = root.items("listeners", required=True)
    if not listener_items:
        fail("listeners", "at least one listener is required")
    listeners = tuple(
        _read_listener(ConfigReader(v, p), p, i, pool_names)
        for i, (p, v) in enumerate(listener_items)
    )
    _unique([x.name for x in listeners], "listeners", "listener")
    _check_binds(listeners)
    config = {
        "listeners": listeners,
        "pools": pools,
        "workers": workers,
        "timeouts": _read_timeouts(root.child("timeouts")),
        "limits": _read_limits(root.child("limits")),
        "forwarding": _read_forwarding(root.child("forwarding")),
        "access_log": _read_access_log(root.child("access_log")),
    }
    root.finish()
    return config


def _unique(names: list[str], path: str, kind: str) -> None:
    """Refuses a second listener or pool of the same name."""
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            fail(f"{path}[{i}].name", f"duplicate {kind} name {name!r}")
        seen.add(name)


def _check_binds(listeners: tuple[Listener, ...]) -> None:
    """Two listeners cannot bind the same port on the same or an overlapping wildcard address."""
    seen: dict[tuple[str, int], int] = {}
    for i, listener in enumerate(listeners):
        host, _, port_text = listener.bind.rpartition(":")
        port = int(port_text)
        if port == 0:  # each gets its own ephemeral port
            continue
        for (other_host, other_port), j in seen.items():
            wildcard = host in ("0.0.0.0", "[::]") or other_host in ("0.0.0.0", "[::]")
            if other_port == port and (other_host == host or wildcard):
                fail(
                    f"listeners[{i}].bind",
                    f"{listener.bind!r} conflicts with listeners[{j}].bind {listeners[j].bind!r}",
                )
        seen[(host, port)] = i


def _read_listener(r: ConfigReader, path: str, index: int, pools: set[str]) -> Listener:
    name = check_name(r.at("name"), r.string("name", f"listener-{index}"))
    bind = parse_socket_address(r.at("bind"), r.string("bind"), min_port=0, role="listener")
    tls_reader = r.child("tls")
    tls = _read_tls(tls_reader) if tls_reader else None
    if r.has("default_pool"):
        default_pool = r.optional_string("default_pool")
    else:
        default_pool = next(iter(pools)) if len(pools) == 1 else None
    if default_pool is not None and default_pool not in pools:
        fail(r.at("default_pool"), f"no pool named {default_pool!r}")
    routes = tuple(
        _read_route(ConfigReader(v, p), j, default_pool, pools)
        for j, (p, v) in enumerate(r.items("routes"))
    )
    seen: set[str] = set()
    for j, route in enumerate(routes):
        if route.name in seen:
            fail(f"{path}.routes[{j}].name", f"duplicate route name {route.name!r}")
        seen.add(route.name)
    r.finish()
    return Listener(name=name, bind=bind, tls=tls, default_pool=default_pool, routes=routes)


def _read_tls(r: ConfigReader) -> Tls:
    items = r.items("certificates", required=True)
    if not items:
        fail(r.at("certificates"), "at least one certificate is required")
    certificates = []
    for path, value in items:
        c = ConfigReader(value, path)
        names = tuple(
            check_host_pattern(p, _string(p, v), wildcard=True) for p, v in c.items("server_names")
        )
        cert_file = os.path.abspath(c.string("cert_file"))
        key_file = os.path.abspath(c.string("key_file"))
        check_certificate_pair(c.at("cert_file"), cert_file, c.at("key_file"), key_file)
        certificates.append(Certificate(cert_file=cert_file, key_file=key_file, server_names=names))
        c.finish()
    r.finish()
    return Tls(certificates=tuple(certificates))


def _read_route(r: ConfigReader, index: int, default_pool: str | None, pools: set[str]) -> Route:
    name = check_name(r.at("name"), r.string("name", f"route-{index}"))
    pool = r.optional_string("pool")
    if pool is None:
        pool = default_pool
    if pool is None:
        fail(r.at("pool"), "is required (the listener has no default_pool)")
    if pool not in pools:
        fail(r.at("pool"), f"no pool named {pool!r}")
    host = r.optional_string("host")
    if host is not None:
        host = check_host_pattern(r.at("host"), host, wildcard=True)
    path_reader = r.child("path")
    path = _read_path_match(path_reader) if path_reader else None
    route = Route(
        name=name,
        pool=pool,
        host=host,
        path=path,
        request_headers=_read_header_rules(r.child("request_headers")),
        response_headers=_read_header_rules(r.child("response_headers")),
    )
    r.finish()
    return route


def _read_path_match(r: ConfigReader) -> PathMatch:
    kind = _choice(r.at("kind"), r.string("kind", "prefix"), _PATH_KINDS)
    value = r.string("value")
    if kind == "regex":
        check_regex(r.at("value"), value)
    else:
        check_route_path(r.at("value"), value)
    r.finish()
    return PathMatch(kind=kind, value=value)


def _read_header_rules(r: ConfigReader | None) -> HeaderRules:
    if r is None:
        return HeaderRules()

    def pairs(key: str) -> tuple[tuple[str, str], ...]:
        result = []
        for path, item in r.items(key):
            if isinstance(item, str) or not isinstance(item, list | tuple) or len(item) != 2:
                fail(path, "expected a [name, value] pair")
            header = check_header_name(
                f"{path}[0]", _string(f"{path}[0]", item[0]), rewritable=True
            )
            value = check_header_value(f"{path}[1]", _string(f"{path}[1]", item[1]))
            result.append((header, value))
        return tuple(result)

    remove = tuple(
        check_header_name(p, _string(p, v), rewritable=True) for p, v in r.items("remove")
    )
    rules = HeaderRules(add=pairs("add"), set=pairs("set"), remove=remove)
    r.finish()
    return rules


def _read_pool(r: ConfigReader) -> Pool:
    name = check_name(r.at("name"), r.string("name"))
    items = r.items("backends", required=True)
    if not items:
        fail(r.at("backends"), "at least one backend is required")
    if len(items) > MAX_BACKENDS:
        fail(r.at("backends"), f"at most {MAX_BACKENDS} backends per pool")
    backends = []
    addresses: dict[str, str] = {}
    for item_path, value in items:
        b = ConfigReader(value, item_path)
        address = parse_socket_address(
            b.at("address"), b.string("address"), min_port=1, role="backend"
        )
        if address in addresses:
            fail(b.at("address"), f"{address!r} is already {addresses[address]}")
        addresses[address] = b.at("address")
        backends.append(Backend(address=address, weight=b.integer("weight", 1, 1, MAX_WEIGHT)))
        b.finish()
    algorithm_reader = r.child("algorithm")
    algorithm = _read_algorithm(algorithm_reader) if algorithm_reader else Algorithm()
    health = r.child("health_check")
    outlier = r.child("outlier")
    breaker = r.child("circuit_breaker")
    retries = r.child("retries")
    pool = Pool(
        name=name,
        backends=tuple(backends),
        algorithm=algorithm,
        health_check=_read_health_check(health) if health else None,
        outlier=_read_outlier(outlier) if outlier else None,
        slow_start_ms=r.integer("slow_start_ms", 0, 0, DAY_MS),
        max_connections_per_backend=r.integer("max_connections_per_backend", 0, 0, 1_000_000),
        max_idle_per_backend=r.integer("max_idle_per_backend", 64, 0, 100_000),
        idle_timeout_ms=r.integer("idle_timeout_ms", 60_000, 1, DAY_MS),
        retries=_read_retries(retries) if retries else Retries(),
        circuit_breaker=_read_circuit_breaker(breaker) if breaker else None,
    )
    r.finish()
    return pool


def _read_algorithm(r: ConfigReader) -> Algorithm:
    kind = _choice(r.at("kind"), r.string("kind", "round_robin"), _ALGORITHMS)
    hash_on: HashOn | None = None
    key: str | None = None
    cookie: StickyCookie | None = None
    if kind == "consistent_hash":
        hash_on = _choice(r.at("hash_on"), r.string("hash_on", "client_ip"), _HASH_ON)
        if hash_on == "client_ip":
            if r.raw("key") is not None:
                fail(r.at("key"), "only for hash_on 'header' or 'cookie'")
        else:
            key_path = r.at("key")
            key = check_header_name(key_path, r.string("key")) if hash_on == "header" else None
            if hash_on == "cookie":
                key = _check_cookie_name(key_path, r.string("key"))
    else:
        for extra in ("hash_on", "key"):
            if r.raw(extra) is not None:
                fail(r.at(extra), "only for algorithm kind 'consistent_hash'")
    cookie_reader = r.child("cookie")
    if kind == "sticky_cookie":
        cookie = StickyCookie()
        if cookie_reader is not None:
            cookie = StickyCookie(
                name=_check_cookie_name(
                    cookie_reader.at("name"), cookie_reader.string("name", "tc_sticky")
                ),
                ttl_ms=cookie_reader.integer("ttl_ms", 0, 0, 365 * DAY_MS),
            )
            cookie_reader.finish()
    elif cookie_reader is not None:
        fail(r.at("cookie"), "only for algorithm kind 'sticky_cookie'")
    r.finish()
    return Algorithm(kind=kind, hash_on=hash_on, key=key, cookie=cookie)


def _read_health_check(r: ConfigReader) -> HealthCheck:
    path = check_url_path(r.at("path"), r.string("path", "/healthz"), query=True)
    interval_ms = r.integer("interval_ms", 2000, 1, DAY_MS)
    timeout_ms = r.integer("timeout_ms", 1000, 1, DAY_MS)
    if timeout_ms > interval_ms:
        fail(r.at("timeout_ms"), f"{timeout_ms} exceeds interval_ms {interval_ms}")
    ranges = [_status_range(p, item) for p, item in r.items("expected_status")]
    if r.raw("expected_status") is None:
        ranges = [(200, 399)]
    elif not ranges:
        fail(r.at("expected_status"), "at least one status range is required")
    host = r.optional_string("host")
    check = HealthCheck(
        path=path,
        interval_ms=interval_ms,
        timeout_ms=timeout_ms,
        rise=r.integer("rise", 2, 1, 100),
        fall=r.integer("fall", 3, 1, 100),
        expected_status=tuple(ranges),
        host=None if host is None else check_host_pattern(r.at("host"), host, wildcard=False),
    )
    r.finish()
    return check


def _status_range(path: str, item: object) -> tuple[int, int]:
    """A [low, high] status range (a single status is accepted as [s, s])."""
    if isinstance(item, int) and not isinstance(item, bool):
        low, high = item, item
    elif (
        isinstance(item, list | tuple)
        and len(item) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in item)
    ):
        low, high = item
    else:
        fail(path, "expected a status or a [low, high] status range")
    if not 100 <= low <= high <= 599:
        fail(path, f"[{low}, {high}] is not a range within 100..599")
    return (low, high)


def _read_outlier(r: ConfigReader) -> Outlier:
    outlier = Outlier(
        consecutive_5xx=r.integer("consecutive_5xx", 5, 0, 10_000),
        consecutive_connect_failures=r.integer("consecutive_connect_failures", 3, 0, 10_000),
        ejection_ms=r.integer("ejection_ms", 30_000, 1, DAY_MS),
        max_ejected_percent=r.integer("max_ejected_percent", 50, 0, 100),
    )
    if outlier.consecutive_5xx == 0 and outlier.consecutive_connect_failures == 0:
        fail(r.at("consecutive_5xx"), "0 together with consecutive_connect_failures 0 never ejects")
    r.finish()
    return outlier


def _read_retries(r: ConfigReader) -> Retries:
    retries = Retries(
        attempts=r.integer("attempts", 1, 0, 10),
        budget_percent=r.integer("budget_percent", 20, 0, 100),
        min_per_second=r.integer("min_per_second", 10, 0, 100_000),
    )
    r.finish()
    return retries


def _read_circuit_breaker(r: ConfigReader) -> CircuitBreaker:
    breaker = CircuitBreaker(
        failure_ratio=r.number("failure_ratio", 0.5, 0.0, 1.0),
        min_requests=r.integer("min_requests", 20, 1, 1_000_000),
        window_ms=r.integer("window_ms", 10_000, 100, DAY_MS),
        open_ms=r.integer("open_ms", 5000, 1, DAY_MS),
    )
    r.finish()
    return breaker


def _read_timeouts(r: ConfigReader | None) -> Timeouts:
    if r is None:
        return Timeouts()
    timeouts = Timeouts(
        connect_ms=r.integer("connect_ms", 2000, 1, DAY_MS),
        request_headers_ms=r.integer("request_headers_ms", 10_000, 1, DAY_MS),
        idle_ms=r.integer("idle_ms", 60_000, 1, DAY_MS),
        total_ms=r.integer("total_ms", 0, 0, DAY_MS),
    )
    r.finish()
    return timeouts


def _read_limits(r: ConfigReader | None) -> Limits:
    if r is None:
        return Limits()
    rate = r.child("rate_limit")
    rate_limit = None
    if rate is not None:
        rate_limit = RateLimit(
            requests_per_second=rate.number("requests_per_second", 100.0, 0.0, 1e9),
            burst=rate.integer("burst", 200, 1, 1_000_000_000),
        )
        rate.finish()
    limits = Limits(
        max_connections=r.integer("max_connections", 10_000, 1, 10_000_000),
        max_header_bytes=r.integer("max_header_bytes", 16_384, 1024, 1 << 20),
        max_headers=r.integer("max_headers", 100, 1, 10_000),
        rate_limit=rate_limit,
    )
    r.finish()
    return limits


def _read_forwarding(r: ConfigReader | None) -> Forwarding:
    if r is None:
        return Forwarding()
    if r.has("request_id_header"):
        header = r.optional_string("request_id_header")
        request_id = (
            None
            if header is None
            else check_header_name(r.at("request_id_header"), header, rewritable=True)
        )
    else:
        request_id = "x-request-id"
    forwarding = Forwarding(
        x_forwarded_for=r.boolean("x_forwarded_for", True),
        x_forwarded_proto=r.boolean("x_forwarded_proto", True),
        forwarded=r.boolean("forwarded", False),
        request_id_header=request_id,
    )
    r.finish()
    return forwarding


def _read_access_log(r: ConfigReader | None) -> AccessLog:
    if r is None:
        return AccessLog()
    path = r.optional_string("path")
    log = AccessLog(
        enabled=r.boolean("enabled", False),
        path=None if path is None else check_absolute_file_parent(r.at("path"), path),
    )
    r.finish()
    return log


def _string(path: str, value: object) -> str:
    if not isinstance(value, str):
        fail(path, f"expected a string, got {type(value).__name__}")
    return value


def _choice(path: str, value: str, allowed: tuple[_Choice, ...]) -> _Choice:
    for option in allowed:
        if value == option:
            return option
    fail(path, f"{value!r} is not one of {', '.join(allowed)}")


def _check_cookie_name(path: str, value: str) -> str:
    """A cookie name is an HTTP token; unlike header names it is case-sensitive."""
    check_header_name(path, value)
    return value
