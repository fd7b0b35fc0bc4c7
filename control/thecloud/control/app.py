"""The control plane's HTTP front: a raw ASGI 3 application with the operational routes.

Routes: `GET /healthz` (liveness), `GET /version` (which build, which installation, since when),
`GET /metrics` (the metric registry, rendered by the data plane), and the mounted API's fixed
documents (`GET /openapi.json`, `GET /docs`), all unauthenticated. `HEAD` is accepted wherever `GET`
is. Everything under `/v1/` goes to the mounted API (`ApiMount`), if there is one. Errors are RFC
9457 problem documents (`application/problem+json`).

No web framework: three fixed routes do not need one, and keeping the request path free of
framework layers keeps the per-request Python work as small as the data plane rules ask.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Final, Protocol

from thecloud.core.clock import utc_now
from thecloud.core.config import Settings
from thecloud.core.errors import InvalidArgumentError, TheCloudError
from thecloud.core.identity import ServerIdentity
from thecloud.core.version import version

__all__ = [
    "ApiMount",
    "ControlApp",
    "Message",
    "Receive",
    "RegistryExpose",
    "Response",
    "Scope",
    "Send",
    "create_app",
    "problem",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
#: Renders the metric registry: takes the request's Accept header, returns (body, content type).
RegistryExpose = Callable[[str | None], tuple[bytes, str]]

_API_PREFIX: Final = "/v1/"
_JSON: Final = "application/json"
_PROBLEM_JSON: Final = "application/problem+json"
_READ_METHODS: Final = frozenset({"GET", "HEAD"})
_ALLOW: Final = b"GET, HEAD"

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Response:
    """A complete HTTP response; every route's body is small enough to build before sending."""

    status: int
    body: bytes
    content_type: str
    headers: tuple[tuple[bytes, bytes], ...] = ()


class ApiMount(Protocol):
    """An API served under `/v1/`, started and stopped with the server's lifespan."""

    async def startup(self) -> None:
        """Get ready to answer; raising makes the server's startup fail."""
        ...

    async def shutdown(self) -> None:
        """Release what startup acquired."""
        ...

    async def handle(self, scope: Scope, receive: Receive) -> Response:
        """Answer one HTTP request under `/v1/`, reading its body from `receive`."""
        ...

    def documents(self) -> Mapping[str, Response]:
        """Fixed, unauthenticated documents by path (the OpenAPI document, its docs page)."""
        ...


def _json_response(document: Mapping[str, object], status: int = 200) -> Response:
    return Response(status, json.dumps(document, separators=(",", ":")).encode(), _JSON)


def problem(
    status: HTTPStatus,
    detail: str,
    headers: tuple[tuple[bytes, bytes], ...] = (),
    *,
    kind: str = "about:blank",
    members: Mapping[str, object] | None = None,
) -> Response:
    """Build an RFC 9457 problem response.

    `kind` is the problem type (`about:blank`: the status code says it all); `members` are
    extension members a client can act on (the quota that was exceeded, say).
    """
    document: dict[str, object] = {
        "type": kind,
        "title": status.phrase,
        "status": status.value,
        "detail": detail,
    }
    if members:
        document |= members
    body = json.dumps(document, separators=(",", ":")).encode()
    return Response(status.value, body, _PROBLEM_JSON, headers)


def _fixed(response: Response, scope: Scope) -> Response:
    return response


def _header(scope: Scope, name: bytes) -> str | None:
    # RFC 9110 allows a list-valued header to be split over several lines; join them back.
    values = [value.decode("latin-1") for key, value in scope["headers"] if key.lower() == name]
    return ", ".join(values) if values else None


class ControlApp:
    """The ASGI application; build it with `create_app`."""

    def __init__(
        self,
        settings: Settings,
        identity: ServerIdentity,
        registry_expose: RegistryExpose,
        server_version: str,
        api: ApiMount | None = None,
    ) -> None:
        self.settings: Final = settings
        """The settings the server was started with."""
        self.identity: Final = identity
        """The installation this server speaks for."""
        self.started_at: Final = utc_now()
        """When this application object, hence this server process, started."""
        self._registry_expose = registry_expose
        self._version = server_version
        self._api = api
        self._routes: dict[str, Callable[[Scope], Response]] = {
            "/healthz": self._healthz,
            "/version": self._version_info,
            "/metrics": self._metrics,
        }
        if api is not None:
            for path, document in api.documents().items():
                self._routes[path] = functools.partial(_fixed, document)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection scope: an HTTP request or the lifespan of the server."""
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            # ASGI asks applications to raise on scope types they do not implement.
            raise InvalidArgumentError(f"unsupported ASGI scope type {scope['type']!r}")
        path: str = scope["path"]
        if self._api is not None and (path.startswith(_API_PREFIX) or path == _API_PREFIX[:-1]):
            response = await self._api.handle(scope, receive)
        else:
            response = self.respond(scope)
        headers = [
            (b"content-type", response.content_type.encode("latin-1")),
            (b"content-length", str(len(response.body)).encode("ascii")),
            *response.headers,
        ]
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        # HEAD gets GET's headers, content-length included, and no body (RFC 9110 section 9.3.2).
        body = b"" if scope["method"] == "HEAD" else response.body
        await send({"type": "http.response.body", "body": body})

    def respond(self, scope: Scope) -> Response:
        """Route an HTTP request scope to its handler and return the complete response."""
        path: str = scope["path"]
        method: str = scope["method"]
        handler = self._routes.get(path)
        if handler is None:
            return problem(HTTPStatus.NOT_FOUND, f"there is no resource at {path}")
        if method not in _READ_METHODS:
            detail = f"{method} is not allowed on {path}; allowed: {_ALLOW.decode()}"
            return problem(HTTPStatus.METHOD_NOT_ALLOWED, detail, ((b"allow", _ALLOW),))
        try:
            return handler(scope)
        except TheCloudError:
            # The log gets the cause; the client gets a stable message that leaks no internals.
            _log.exception("request failed", extra={"path": path})
            return problem(
                HTTPStatus.INTERNAL_SERVER_ERROR, "the server failed to answer; see its log"
            )

    def _healthz(self, scope: Scope) -> Response:
        return _json_response({"status": "ok"})

    def _version_info(self, scope: Scope) -> Response:
        return _json_response(
            {
                "version": self._version,
                "server_id": self.identity.server_id,
                "started_at": self.started_at,
            }
        )

    def _metrics(self, scope: Scope) -> Response:
        # Rendering runs on the event loop: it is native, quick, and scrapes are seconds apart.
        body, content_type = self._registry_expose(_header(scope, b"accept"))
        return Response(HTTPStatus.OK.value, body, content_type)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        # The mounted API (if any) starts and stops with the server.
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    if self._api is not None:
                        await self._api.startup()
                except (TheCloudError, OSError) as error:
                    # Reported through the lifespan protocol: uvicorn then exits non-zero.
                    _log.error("the API failed to start: %s", error)
                    await send({"type": "lifespan.startup.failed", "message": str(error)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._api is not None:
                    await self._api.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


def create_app(
    settings: Settings,
    identity: ServerIdentity,
    registry_expose: RegistryExpose,
    api: ApiMount | None = None,
) -> ControlApp:
    """Build the control plane's ASGI application for the installation `identity` names.

    `api`, if given, answers every request under `/v1/`.

    Raises StateError if the `thecloud` distribution is not installed, since /version could not
    answer truthfully.
    """
    return ControlApp(settings, identity, registry_expose, version(), api)
