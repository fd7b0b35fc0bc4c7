"""Matching `/v1/...` paths to handlers by segment, without regexes per route.

Routes form a tree of path segments, built once; a pattern segment in braces captures one path
segment, and literal segments win over captures. A path that matches some pattern but not its
method gets 405 with `Allow`. Each route also describes itself (body and response models, query
parameters, status): the OpenAPI document is generated from this table, so it lists exactly what
the router serves.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Final

from thecloud.control.api.call import Call
from thecloud.control.api.errors import ApiError
from thecloud.control.app import Response

__all__ = [
    "MAX_REMEMBERED_PATHS",
    "Handler",
    "ListOf",
    "Match",
    "QueryParam",
    "Route",
    "Router",
    "Versioned",
]

#: Paths whose tree node a router remembers.
MAX_REMEMBERED_PATHS: Final = 4096

#: A resource handler: takes the call, returns the complete response.
Handler = Callable[[Call], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class ListOf:
    """A response that is one page of `item`s: `{"items": [...], "next_page_token": ...}`."""

    item: Any


@dataclass(frozen=True, slots=True)
class Versioned:
    """A response that is `model` plus its resource `version` (also sent as the ETag)."""

    model: Any


@dataclass(frozen=True, slots=True)
class QueryParam:
    """One documented query parameter and its JSON Schema."""

    name: str
    schema: dict[str, Any]
    description: str
    required: bool = False


@dataclass(frozen=True, slots=True)
class Route:
    """One method and path pattern, its handler, the audit action, and its description."""

    method: str
    pattern: str
    handler: Handler
    audit_action: str
    summary: str = ""
    body: Any = None
    response: Any = None
    status: HTTPStatus = HTTPStatus.OK
    query: tuple[QueryParam, ...] = ()
    #: Honours If-Match (mutations) or sends an ETag (reads).
    conditional: bool = False
    #: Answers 202 with an operation when the change continues in the background.
    long_running: bool = False
    #: The handler checks the tenant itself (system admins reach every tenant); others get
    #: the dispatcher's rule: a tenant not the caller's own is 404.
    any_tenant: bool = False
    segments: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "segments", tuple(self.pattern.strip("/").split("/")))


@dataclass(frozen=True, slots=True)
class Match:
    """A route that fits the request, with the captured path parameters."""

    route: Route
    params: dict[str, str]


class _Node:
    """One path segment of the route tree: literal children, one capturing child, and the
    routes (by method) of paths ending here. Capture names belong to each route, so sibling
    patterns may name the same position differently (`{id}`, `{project}`)."""

    __slots__ = ("literal", "methods", "param")

    def __init__(self) -> None:
        self.literal: dict[str, _Node] = {}
        self.param: _Node | None = None
        self.methods: dict[str, Route] = {}

    def add(self, route: Route) -> None:
        node = self
        for segment in route.segments:
            if segment.startswith("{"):
                if node.param is None:
                    node.param = _Node()
                node = node.param
            else:
                node = node.literal.setdefault(segment, _Node())
        if route.method in node.methods:
            raise ValueError(f"{route.method} {route.pattern} is defined twice")
        node.methods[route.method] = route

    def find(self, segments: list[str], index: int) -> _Node | None:
        """The node the path ends at, literal segments first (`/audit/verify` before `{id}`)."""
        if index == len(segments):
            return self if self.methods else None
        segment = segments[index]
        child = self.literal.get(segment)
        if child is not None:
            found = child.find(segments, index + 1)
            if found is not None:
                return found
        if self.param is not None and segment:
            return self.param.find(segments, index + 1)
        return None


class Router:
    """Finds the route of a request among a fixed set, walking a tree of path segments."""

    def __init__(self, routes: list[Route]) -> None:
        self.routes = tuple(routes)
        self._root = _Node()
        for route in routes:
            self._root.add(route)
        # The tree never changes, so the node a path ends at can be remembered: clients repeat
        # paths. Bounded because paths come from clients; emptied when full, never grown.
        self._found: dict[str, _Node | None] = {}

    def match(self, method: str, path: str) -> Match:
        """Return the matching route; ApiError 404 (no such path) or 405 (wrong method)."""
        segments = path.strip("/").split("/")
        if path in self._found:
            node = self._found[path]
        else:
            node = self._root.find(segments, 0)
            if len(self._found) >= MAX_REMEMBERED_PATHS:
                self._found.clear()
            self._found[path] = node
        if node is None:
            raise ApiError(HTTPStatus.NOT_FOUND, f"there is no resource at {path}")
        route = node.methods.get(method)
        if route is not None:
            params = {
                name[1:-1]: value
                for name, value in zip(route.segments, segments, strict=True)
                if name[0] == "{"
            }
            return Match(route, params)
        allow = ", ".join(sorted(node.methods)).encode()
        raise ApiError(
            HTTPStatus.METHOD_NOT_ALLOWED,
            f"{method} is not allowed on {path}; allowed: {allow.decode()}",
            ((b"allow", allow),),
        )
