"""The two failures only the IAM layer raises: who are you (authentication) and may you (authz).

Both derive from TheCloudError so callers can catch every deliberate failure in one place, and
both carry deliberately vague messages: saying which part of a credential was wrong helps an
attacker more than it helps a legitimate caller.
"""

from __future__ import annotations

from thecloud.core.errors import ConflictError, TheCloudError

__all__ = [
    "AuthenticationError",
    "PermissionDeniedError",
    "PreconditionFailedError",
    "QuotaExceededError",
]


class AuthenticationError(TheCloudError):
    """A credential was malformed, unknown, revoked or wrong; which one is never said."""

    def __init__(self) -> None:
        # One fixed message, so no caller can learn which check failed.
        super().__init__("authentication failed")


class PermissionDeniedError(TheCloudError):
    """An authenticated principal asked for an action none of its role bindings allows."""


class PreconditionFailedError(ConflictError):
    """A conditional request (If-Match) named a version the resource no longer has."""


class QuotaExceededError(TheCloudError):
    """A create would take the tenant past one of its quotas; nothing was changed."""

    def __init__(self, quota: str, limit: int, in_use: int, requested: int) -> None:
        super().__init__(
            f"quota {quota!r} exceeded: {in_use} in use + {requested} requested > limit {limit}"
        )
        self.quota = quota
        self.limit = limit
        self.in_use = in_use
        self.requested = requested
