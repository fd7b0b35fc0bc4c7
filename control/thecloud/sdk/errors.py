"""Failures the SDK raises: one exception per kind of API answer, each carrying the problem.

The server answers every failure with an RFC 9457 problem document; `error_for` turns one into
the exception for its status, so callers catch `ResourceNotFoundError` or `PermissionDeniedError`
instead of comparing numbers. The classes also derive from the matching `thecloud.core.errors`
class, so code written against the embedded services catches the same errors over HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from thecloud.core.errors import (
    CapacityError,
    ConfigError,
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    TheCloudError,
)

__all__ = [
    "ApiError",
    "AuthenticationError",
    "ResourceConflictError",
    "InvalidRequestError",
    "ResourceNotFoundError",
    "PermissionDeniedError",
    "Problem",
    "ServerFaultError",
    "TooManyRequestsError",
    "NotConfiguredError",
    "TransportError",
    "UnexpectedAnswerError",
    "error_for",
]


@dataclass(frozen=True, slots=True)
class Problem:
    """An RFC 9457 problem document, with the request id the server gave the failed request."""

    status: int
    title: str
    detail: str
    type: str = "about:blank"
    request_id: str | None = None
    #: Members beyond the standard ones (say, the field a validation error names).
    extensions: Mapping[str, Any] | None = None

    @classmethod
    def from_document(cls, status: int, document: object, request_id: str | None) -> Problem:
        """Read a problem body; a body that is not one still gives a Problem for `status`."""
        if not isinstance(document, Mapping):
            return cls(status, "", "", request_id=request_id)
        known = {"type", "title", "status", "detail"}
        extra = {key: value for key, value in document.items() if key not in known}
        return cls(
            status=status,
            title=str(document.get("title", "")),
            detail=str(document.get("detail", "")),
            type=str(document.get("type", "about:blank")),
            request_id=request_id,
            extensions=extra or None,
        )


class ApiError(TheCloudError):
    """The API refused a request; `problem` holds what it said and `hint` what to do."""

    #: What the user can do about this kind of failure; subclasses refine it.
    hint: str = "see the server's log for this request id"

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.detail or problem.title or f"HTTP {problem.status}")
        self.problem = problem

    @property
    def status(self) -> int:
        """The HTTP status the server answered with."""
        return self.problem.status


class InvalidRequestError(ApiError, InvalidArgumentError):
    """400 or 422: the request itself is wrong (a field, a limit, a page token)."""

    hint = "fix the request as the message says"


class AuthenticationError(ApiError):
    """401: no API key, or one the server does not accept (unknown, revoked, malformed)."""

    hint = "check THECLOUD_API_KEY (or api_key in the config file); the key may be revoked"


class PermissionDeniedError(ApiError):
    """403: the caller's roles do not allow this."""

    hint = "ask a tenant admin for a role binding that allows it"


class ResourceNotFoundError(ApiError, NotFoundError):
    """404: nothing there, or nothing this key may know about."""

    hint = "check the id and the tenant; other tenants' resources are never visible"


class ResourceConflictError(ApiError, ConflictError):
    """409 or 412: the resource exists already, or changed since it was read."""

    hint = "read the resource again, then retry"


class TooManyRequestsError(ApiError, CapacityError):
    """429: a quota or a rate limit."""

    hint = "wait, or ask for a larger quota"


class ServerFaultError(ApiError):
    """5xx: the server failed; retrying may help."""

    hint = "retry; if it persists, see the server's log for this request id"


_BY_STATUS: Final[Mapping[int, type[ApiError]]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: ResourceNotFoundError,
    409: ResourceConflictError,
    412: ResourceConflictError,
    422: InvalidRequestError,
    429: TooManyRequestsError,
}


def error_for(problem: Problem) -> ApiError:
    """Return the exception for a failed answer."""
    kind = _BY_STATUS.get(problem.status)
    if kind is None:
        kind = ServerFaultError if problem.status >= 500 else ApiError
    return kind(problem)


class TransportError(TheCloudError):
    """The server could not be reached (refused, timed out, connection lost)."""


class UnexpectedAnswerError(TheCloudError):
    """The server answered, but not with what the API promises (not JSON, a field missing)."""


class NotConfiguredError(ConfigError):
    """A setting the request needs (API URL, key, tenant) is missing."""
