"""Matching `/v1/tenants/{tenant}/...` paths to handlers by segment, without regexes per route.

Routes are grouped by their segment count, and a pattern segment in braces captures one path
segment. A path that matches some pattern but not its method gets 405 with `Allow`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus

from thecloud.control.api.call import Call
from thecloud.control.api.errors import ApiError
from thecloud.control.app import Response

__all__ = ["Handler", "Match", "Route", "Router"]

#: A resource handler: takes the call, returns the complete response.
Handler = Callable[[Call], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Route:
    """One method and path pattern, its handler, and the action its audit entries name."""

    method: str
    pattern: str
    handler: Handler
    audit_action: str

    @property
    def segments(self) -> tuple[str, ...]:
        """The pattern split at slashes, without the leading empty one."""
        return tuple(self.pattern.strip("/").split("/"))


@dataclass(frozen=True, slots=True)
class Match:
    """A route that fits the request, with the captured path parameters."""

    route: Route
    params: dict[str, str]


def _capture(pattern: tuple[str, ...], segments: list[str]) -> dict[str, str] | None:
    params: dict[str, str] = {}
    for want, got in zip(pattern, segments, strict=True):
        if want.startswith("{"):
            if not got:
                return None
            params[want[1:-1]] = got
        elif want != got:
            return None
    return params


class Router:
    """Finds the route of a request among a fixed set."""

    def __init__(self, routes: list[Route]) -> None:
        self._by_length: dict[int, list[Route]] = {}
        for route in routes:
            self._by_length.setdefault(len(route.segments), []).append(route)

    def match(self, method: str, path: str) -> Match:
        """Return the matching route; ApiError 404 (no such path) or 405 (wrong method)."""
        segments = path.strip("/").split("/")
        allowed: list[str] = []
        for route in self._by_length.get(len(segments), []):
            params = _capture(route.segments, segments)
            if params is None:
                continue
            if route.method == method:
                return Match(route, params)
            allowed.append(route.method)
        if not allowed:
            raise ApiError(HTTPStatus.NOT_FOUND, f"there is no resource at {path}")
        allow = ", ".join(sorted(set(allowed))).encode()
        raise ApiError(
            HTTPStatus.METHOD_NOT_ALLOWED,
            f"{method} is not allowed on {path}; allowed: {allow.decode()}",
            ((b"allow", allow),),
        )
