"""The one error hierarchy of The Cloud.

Every layer maps its failures into these classes: Python code raises them directly; the Rust
binding (`thecloud._native`) and the Cython and cffi modules translate their error codes into
them. Errors that callers of a prometheus-client-shaped or stdlib-shaped API expect as
`ValueError` also derive from `ValueError`, so switching to The Cloud's implementation does not
break `except` clauses.
"""

from __future__ import annotations

__all__ = [
    "TheCloudError",
    "InvalidArgumentError",
    "ConfigError",
    "NotFoundError",
    "ConflictError",
    "CapacityError",
    "NativeModuleError",
    "StateError",
]


class TheCloudError(Exception):
    """Base class of every error The Cloud raises on purpose."""

    #: Whether repeating the same call may succeed (transient failure) or never will.
    retryable: bool = False


class InvalidArgumentError(TheCloudError, ValueError):
    """A caller passed a value that is malformed or out of range; nothing was changed."""


class ConfigError(InvalidArgumentError):
    """A configuration file or environment variable holds an invalid value."""


class NotFoundError(TheCloudError, LookupError):
    """The named resource does not exist (or is not visible to the caller)."""


class ConflictError(TheCloudError):
    """The request contradicts existing state (duplicate name, type mismatch, stale version)."""


class CapacityError(TheCloudError):
    """A configured limit (cardinality, quota, region size) would be exceeded; nothing changed."""


class NativeModuleError(TheCloudError, ImportError):
    """A native extension is missing or failed to load; there is deliberately no slow fallback."""


class StateError(TheCloudError):
    """The persistent state store failed or holds data this version cannot read."""

    retryable = True
