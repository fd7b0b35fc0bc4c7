"""Configuration files for the ``lb`` benchmark's backends and proxies, rendered from one scenario.

The three proxies get the same work: two backends balanced round-robin over kept-alive upstream
connections; in the routed scenario also the same 50 host + path-prefix routes (the request
matches the last), one request header set, X-Forwarded-For, and an access log written to a file
in a tmpfs directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

BODY: Final = "x" * 63 + "\n"
"""The backends' 64-byte answer."""

ROUTE_COUNT: Final = 50
REWRITE_HEADER: Final = ("X-Env", "bench")


@dataclass(frozen=True)
class Scenario:
    """What the proxies do per request besides forwarding it."""

    name: str
    routed: bool
    """50 host/path routes, a header set, X-Forwarded-For and an access log, or none of these."""

    @property
    def host(self) -> str:
        """The Host header wrk sends: the last route's host when routed."""
        return route_host(ROUTE_COUNT - 1) if self.routed else "bench.local"

    @property
    def path(self) -> str:
        """The path wrk requests: under the last route's prefix when routed."""
        return f"{route_prefix(ROUTE_COUNT - 1)}index" if self.routed else "/"


def route_host(index: int) -> str:
    """The host of route index."""
    return f"svc{index:02d}.example"


def route_prefix(index: int) -> str:
    """The path prefix of route index."""
    return f"/svc{index:02d}/"


def _nginx_head(workdir: Path, name: str) -> str:
    # As root, nginx workers would switch to nobody; run them as the bench's user instead.
    user = "user root;\n" if os.geteuid() == 0 else ""
    return (
        f"{user}worker_processes 1;\ndaemon off;\npid {workdir / name}.pid;\n"
        f"error_log {workdir / name}.error.log warn;\n"
        "events { worker_connections 4096; multi_accept on; }\n"
    )


def nginx_backend(workdir: Path, name: str, port: int) -> str:
    """An nginx answering every request with 200 and BODY, keep-alive, no access log."""
    return _nginx_head(workdir, name) + (
        "http {\n"
        "  access_log off;\n"
        "  keepalive_requests 10000000;\n"
        "  keepalive_timeout 300s;\n"
        f"  server {{\n    listen 127.0.0.1:{port} reuseport backlog=4096;\n"
        f'    location / {{ default_type text/plain; return 200 "{BODY[:-1]}\\n"; }}\n'
        "  }\n}\n"
    )


def nginx_proxy(
    workdir: Path, name: str, port: int, *, backends: list[int], scenario: Scenario, log: Path
) -> str:
    """nginx as the proxy: one worker, upstream keepalive 512, HTTP/1.1 upstream."""
    servers = "".join(f"    server 127.0.0.1:{b};\n" for b in backends)
    upstream = (
        f"  upstream app {{\n{servers}    keepalive 512;\n"
        "    keepalive_requests 10000000;\n    keepalive_timeout 300s;\n  }\n"
    )
    proxy = 'proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection "";'
    http = (
        "http {\n  keepalive_requests 10000000;\n  keepalive_timeout 300s;\n"
        "  proxy_buffering on;\n" + upstream
    )
    if not scenario.routed:
        http += "  access_log off;\n"
        http += f"  server {{\n    listen 127.0.0.1:{port} backlog=4096;\n"
        http += f"    location / {{ {proxy} }}\n  }}\n"
        return _nginx_head(workdir, name) + http + "}\n"
    # nginx buffers log writes per worker; see bench/lb.py's notes for how the three compare.
    http += f"  access_log {log} combined buffer=64k flush=1s;\n"
    header, value = REWRITE_HEADER
    forwarding = (
        f"proxy_set_header {header} {value}; proxy_set_header Host $host; "
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;"
    )
    for index in range(ROUTE_COUNT):
        options = " backlog=4096" if index == 0 else ""  # listen options go on one server only
        http += f"  server {{\n    listen 127.0.0.1:{port}{options};\n"
        http += f"    server_name {route_host(index)};\n"
        http += f"    location {route_prefix(index)} {{ {proxy} {forwarding} }}\n  }}\n"
    return _nginx_head(workdir, name) + http + "}\n"


def haproxy(port: int, backends: list[int], scenario: Scenario) -> str:
    """HAProxy: nbthread 1, mode http, keep-alive both sides, http-reuse always, roundrobin."""
    servers = "".join(f"  server b{i} 127.0.0.1:{b}\n" for i, b in enumerate(backends))
    text = (
        "global\n  nbthread 1\n  maxconn 5000\n"
        + ("  log stdout format raw local0 info\n" if scenario.routed else "")
        + "defaults\n  mode http\n  option http-keep-alive\n  http-reuse always\n"
        "  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n"
        "  timeout http-keep-alive 60s\n"
        + ("  log global\n  option httplog\n  option forwardfor\n" if scenario.routed else "")
        + f"frontend web\n  bind 127.0.0.1:{port}\n"
    )
    if scenario.routed:
        header, value = REWRITE_HEADER
        text += f"  http-request set-header {header} {value}\n"
        for index in range(ROUTE_COUNT):
            text += f"  acl host{index} hdr(host) -i {route_host(index)}\n"
            text += f"  acl path{index} path_beg {route_prefix(index)}\n"
        for index in range(ROUTE_COUNT):
            text += f"  use_backend app if host{index} path{index}\n"
    else:
        text += "  default_backend app\n"
    return text + f"backend app\n  balance roundrobin\n{servers}"


def ours(backends: list[int], scenario: Scenario, log: Path) -> dict[str, object]:
    """Our load balancer's configuration (the contract's JSON shape), one worker thread."""
    header, value = REWRITE_HEADER
    rules = {"add": [], "set": [[header.lower(), value]] if scenario.routed else [], "remove": []}
    routes = [
        {
            "name": f"r{index:02d}",
            "host": route_host(index),
            "path": {"kind": "prefix", "value": route_prefix(index)},
            "pool": "app",
            "request_headers": rules,
        }
        for index in range(ROUTE_COUNT if scenario.routed else 0)
    ]
    return {
        "workers": 1,
        "listeners": [
            {
                "name": "web",
                "bind": "127.0.0.1:0",
                "default_pool": None if scenario.routed else "app",
                "routes": routes,
            }
        ],
        "pools": [
            {
                "name": "app",
                "backends": [{"address": f"127.0.0.1:{b}", "weight": 1} for b in backends],
                "algorithm": {"kind": "round_robin"},
                "max_idle_per_backend": 512,
                "idle_timeout_ms": 300_000,
                # HAProxy and nginx do not retry here either.
                "retries": {"attempts": 0},
            }
        ],
        "limits": {"max_connections": 20_000},
        "forwarding": {
            "x_forwarded_for": scenario.routed,
            "x_forwarded_proto": False,
            "forwarded": False,
            "request_id_header": None,
        },
        "access_log": {"enabled": scenario.routed, "path": str(log) if scenario.routed else None},
    }
