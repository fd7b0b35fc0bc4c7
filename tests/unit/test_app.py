"""The control plane ASGI app, driven directly through the ASGI 3 interface."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from thecloud.control.app import ControlApp, Message, create_app
from thecloud.core.config import Settings
from thecloud.core.errors import CapacityError, InvalidArgumentError
from thecloud.core.identity import ServerIdentity

pytestmark = pytest.mark.unit

IDENTITY = ServerIdentity(
    server_id="srv-01jd8x3m5q7k2n4p6r8t0v2w4y", created_at="2024-11-27T10:00:00.000Z"
)
METRICS_TEXT = b"# TYPE up gauge\nup 1\n"
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass
class FakeRegistry:
    """Stands in for thecloud.dataplane.metrics.expose and remembers the Accept headers."""

    accepts: list[str | None] = field(default_factory=list)
    failure: Exception | None = None

    def expose(self, accept_header: str | None) -> tuple[bytes, str]:
        self.accepts.append(accept_header)
        if self.failure is not None:
            raise self.failure
        return METRICS_TEXT, METRICS_TYPE


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    app: ControlApp, method: str, path: str, headers: Sequence[tuple[bytes, bytes]] = ()
) -> Reply:
    """Run one HTTP request through `app` as an ASGI server would, and collect the response."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": list(headers),
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8470),
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start, body = sent
    assert start["type"] == "http.response.start"
    assert body["type"] == "http.response.body"
    assert not body.get("more_body", False)
    names = [name.decode() for name, _ in start["headers"]]
    assert len(names) == len(set(names)), "duplicate response headers"
    decoded = {name.decode(): value.decode() for name, value in start["headers"]}
    return Reply(start["status"], decoded, body["body"])


@pytest.fixture
def registry() -> FakeRegistry:
    return FakeRegistry()


@pytest.fixture
def app(registry: FakeRegistry, monkeypatch: pytest.MonkeyPatch) -> ControlApp:
    # The unit tier runs from the source tree, where the distribution may not be installed.
    monkeypatch.setattr("thecloud.control.app.version", lambda: "1.2.3")
    return create_app(Settings(), IDENTITY, registry.expose)


def assert_problem(reply: Reply, status: int, title: str) -> dict[str, Any]:
    assert reply.status == status
    assert reply.headers["content-type"] == "application/problem+json"
    document: dict[str, Any] = reply.json()
    assert document["type"] == "about:blank"
    assert document["title"] == title
    assert document["status"] == status
    assert isinstance(document["detail"], str)
    assert document["detail"]
    return document


def test_healthz_reports_ok(app: ControlApp) -> None:
    reply = request(app, "GET", "/healthz")

    assert reply.status == 200
    assert reply.headers["content-type"] == "application/json"
    assert reply.headers["content-length"] == str(len(reply.body))
    assert reply.json() == {"status": "ok"}


def test_version_reports_build_installation_and_start_time(app: ControlApp) -> None:
    reply = request(app, "GET", "/version")

    assert reply.status == 200
    assert reply.json() == {
        "version": "1.2.3",
        "server_id": IDENTITY.server_id,
        "started_at": app.started_at,
    }


def test_metrics_come_from_the_registry_with_its_content_type(
    app: ControlApp, registry: FakeRegistry
) -> None:
    accept = b"application/openmetrics-text; version=1.0.0"

    reply = request(app, "GET", "/metrics", [(b"accept", accept)])

    assert reply.status == 200
    assert reply.body == METRICS_TEXT
    assert reply.headers["content-type"] == METRICS_TYPE
    assert registry.accepts == [accept.decode()]


def test_metrics_without_accept_header_pass_none(app: ControlApp, registry: FakeRegistry) -> None:
    request(app, "GET", "/metrics")

    assert registry.accepts == [None]


def test_split_accept_headers_are_joined(app: ControlApp, registry: FakeRegistry) -> None:
    request(app, "GET", "/metrics", [(b"accept", b"text/plain"), (b"Accept", b"*/*")])

    assert registry.accepts == ["text/plain, */*"]


@pytest.mark.parametrize("path", ["/healthz", "/version", "/metrics"])
def test_head_has_the_get_headers_and_no_body(app: ControlApp, path: str) -> None:
    get = request(app, "GET", path)
    head = request(app, "HEAD", path)

    assert head.status == 200
    assert head.body == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.headers["content-length"] == str(len(get.body))


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_other_methods_on_known_paths_are_405_with_allow(app: ControlApp, method: str) -> None:
    reply = request(app, method, "/healthz")

    document = assert_problem(reply, 405, "Method Not Allowed")
    assert reply.headers["allow"] == "GET, HEAD"
    assert method in document["detail"]


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_unknown_paths_are_404(app: ControlApp, method: str) -> None:
    reply = request(app, method, "/nope")

    document = assert_problem(reply, 404, "Not Found")
    assert "/nope" in document["detail"]


def test_head_of_an_error_has_no_body(app: ControlApp) -> None:
    reply = request(app, "HEAD", "/nope")

    assert reply.status == 404
    assert reply.body == b""
    assert int(reply.headers["content-length"]) > 0


def test_registry_failure_is_a_500_problem_that_hides_internals(
    app: ControlApp, registry: FakeRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    registry.failure = CapacityError("secret internal detail")

    reply = request(app, "GET", "/metrics")

    document = assert_problem(reply, 500, "Internal Server Error")
    assert "secret internal detail" not in document["detail"]
    assert "secret internal detail" in caplog.text


def test_lifespan_startup_and_shutdown_complete(app: ControlApp) -> None:
    incoming: list[Message] = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send))

    assert sent == [{"type": "lifespan.startup.complete"}, {"type": "lifespan.shutdown.complete"}]


def test_unsupported_scope_types_are_refused(app: ControlApp) -> None:
    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        raise AssertionError("nothing may be sent")

    with pytest.raises(InvalidArgumentError, match="websocket"):
        asyncio.run(app({"type": "websocket", "path": "/healthz"}, receive, send))
