"""The installed version of The Cloud, read from the distribution metadata."""

from __future__ import annotations

from importlib import metadata

from thecloud.core.errors import StateError

__all__ = ["version"]

_DISTRIBUTION = "thecloud"


def version() -> str:
    """Return the version of the installed `thecloud` distribution.

    Read from the metadata rather than hard-coded so that the API, the CLI and the wheel can never
    disagree. Raises StateError when running from a source tree that was never installed.
    """
    try:
        return metadata.version(_DISTRIBUTION)
    except metadata.PackageNotFoundError as exc:
        raise StateError(
            f"the {_DISTRIBUTION!r} distribution is not installed; run `make run`"
        ) from exc
