"""Page size and opaque page tokens for list routes.

A token is base64url(JSON payload || 16-byte HMAC-SHA256 tag). The payload names the list it
belongs to and where to continue; the tag, keyed from the server key, makes a forged or edited
token fail with 400 instead of steering a store scan somewhere the client chose.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from http import HTTPStatus
from typing import Final

from thecloud.control.api.errors import ApiError
from thecloud.control.iam import ServerKey

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "PageTokens", "parse_limit"]

#: Page size when the client does not ask for one.
DEFAULT_LIMIT: Final = 100
#: Largest page a client may ask for.
MAX_LIMIT: Final = 1000
_TAG_BYTES: Final = 16
_MAX_TOKEN_CHARS: Final = 2048


def parse_limit(query: dict[str, str]) -> int:
    """Return the `limit` query parameter (1..MAX_LIMIT, default DEFAULT_LIMIT); 400 if bad."""
    raw = query.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_LIMIT:
        raise ApiError(HTTPStatus.BAD_REQUEST, f"limit must be an integer from 1 to {MAX_LIMIT}")
    return int(raw)


def _bad_token() -> ApiError:
    return ApiError(HTTPStatus.BAD_REQUEST, "page_token is not a valid page token for this list")


class PageTokens:
    """Issues and checks page tokens under a key derived from the server key."""

    def __init__(self, server_key: ServerKey) -> None:
        # A derived key, so a tag can never double as an API-key digest.
        self._key = hmac.new(server_key.material, b"thecloud/page-token/v1", "sha256").digest()

    def __repr__(self) -> str:
        return "PageTokens(<redacted>)"

    def _tag(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:_TAG_BYTES]

    def issue(self, listing: str, after: str | int | None) -> str | None:
        """Return the token continuing `listing` after `after`, or None at the end."""
        if after is None:
            return None
        payload = json.dumps({"l": listing, "a": after}, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(payload + self._tag(payload)).rstrip(b"=").decode()

    def read(self, query: dict[str, str], listing: str) -> str | int | None:
        """Return where `listing` continues per the `page_token` parameter; 400 if it is bad."""
        token = query.get("page_token")
        if token is None:
            return None
        if not token or len(token) > _MAX_TOKEN_CHARS or not token.isascii():
            raise _bad_token()
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            raise _bad_token() from None
        payload, tag = raw[:-_TAG_BYTES], raw[-_TAG_BYTES:]
        if len(raw) <= _TAG_BYTES or not hmac.compare_digest(tag, self._tag(payload)):
            raise _bad_token()
        fields = json.loads(payload)
        # The tag proves we issued it; the listing check stops reuse on another list.
        if fields.get("l") != listing:
            raise _bad_token()
        after: str | int = fields["a"]
        return after
