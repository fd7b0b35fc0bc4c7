"""Reading `limit` and `page_token` for a list route in one call."""

from __future__ import annotations

from http import HTTPStatus

from thecloud.control.api.call import Call
from thecloud.control.api.errors import ApiError
from thecloud.control.api.pagination import parse_limit

__all__ = ["page_after_int", "page_after_str", "page_limit"]


def page_limit(call: Call) -> int:
    """Return the requested page size."""
    return parse_limit(call.request.query)


def page_after_str(call: Call, listing: str) -> str | None:
    """Return the name or id a text-keyed listing continues after, or None for page one."""
    after = call.pages.read(call.request.query, listing)
    if after is not None and not isinstance(after, str):
        raise ApiError(HTTPStatus.BAD_REQUEST, "page_token is not a valid page token for this list")
    return after


def page_after_int(call: Call, listing: str) -> int:
    """Return the sequence a number-keyed listing continues after (0 for page one)."""
    after = call.pages.read(call.request.query, listing)
    if after is None:
        return 0
    if isinstance(after, bool) or not isinstance(after, int) or after < 0:
        raise ApiError(HTTPStatus.BAD_REQUEST, "page_token is not a valid page token for this list")
    return after
