"""The one exception API handlers raise to answer with a problem document, and its mapping.

Handlers raise `ApiError` for HTTP-level failures (bad body, bad token, wrong tenant) and let the
IAM and core errors propagate; `problem_for` turns either kind into an RFC 9457 response, so no
deliberate failure ever becomes a 500.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Final

from thecloud.control.app import Response, problem
from thecloud.control.iam import (
    AuthenticationError,
    PermissionDeniedError,
    PreconditionFailedError,
    QuotaExceededError,
)
from thecloud.core.errors import (
    CapacityError,
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    TheCloudError,
)

__all__ = ["QUOTA_EXCEEDED", "WWW_AUTHENTICATE", "ApiError", "problem_for"]

#: Sent with every 401, as RFC 9110 section 11.6.1 asks.
WWW_AUTHENTICATE: Final = (b"www-authenticate", b'Bearer realm="thecloud"')
# Checked in order; InvalidArgumentError last, since more specific errors may derive from it.
#: Problem type of a create refused by a tenant quota.
QUOTA_EXCEEDED: Final = "urn:thecloud:problem:quota-exceeded"
_STATUS_OF: Final[tuple[tuple[type[TheCloudError], HTTPStatus], ...]] = (
    (PermissionDeniedError, HTTPStatus.FORBIDDEN),
    (PreconditionFailedError, HTTPStatus.PRECONDITION_FAILED),
    (NotFoundError, HTTPStatus.NOT_FOUND),
    (ConflictError, HTTPStatus.CONFLICT),
    (CapacityError, HTTPStatus.TOO_MANY_REQUESTS),
    (InvalidArgumentError, HTTPStatus.BAD_REQUEST),
)
_UNAUTHENTICATED: Final = "a valid API key is required (Authorization: Bearer or X-API-Key)"


class ApiError(Exception):
    """An HTTP failure with a status and a message safe to show the client."""

    def __init__(
        self, status: HTTPStatus, detail: str, headers: tuple[tuple[bytes, bytes], ...] = ()
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers


def problem_for(error: TheCloudError | ApiError) -> Response | None:
    """Return the problem response for a deliberate failure, or None if it is a server fault.

    Authentication failures all get one generic message; which check failed is never said.
    """
    if isinstance(error, ApiError):
        return problem(error.status, error.detail, error.headers)
    if isinstance(error, AuthenticationError):
        return problem(HTTPStatus.UNAUTHORIZED, _UNAUTHENTICATED, (WWW_AUTHENTICATE,))
    if isinstance(error, QuotaExceededError):
        members = {
            "quota": error.quota,
            "limit": error.limit,
            "in_use": error.in_use,
            "requested": error.requested,
        }
        return problem(HTTPStatus.FORBIDDEN, str(error), kind=QUOTA_EXCEEDED, members=members)
    for kind, status in _STATUS_OF:
        if isinstance(error, kind):
            return problem(status, str(error))
    return None
