"""The text form of API keys: `tck_<key id>_<base64url secret>`.

The key id says which stored key to check; the secret is 256 random bits that only the holder
knows. Parsing is strict (exact lengths, canonical base64url, no padding), so there is exactly one
text form per key and anything else is refused.
"""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass, field
from typing import Final

__all__ = [
    "KEY_ID_PREFIX",
    "SECRET_BYTES",
    "ParsedToken",
    "format_token",
    "new_secret",
    "parse_token",
]

#: Id type prefix of API keys (`key-...`).
KEY_ID_PREFIX: Final = "key"
#: Size of an API key's secret: 256 bits.
SECRET_BYTES: Final = 32
_TOKEN_PREFIX: Final = "tck_"
# 32 bytes in unpadded base64url take 43 characters; ids are lowercase Crockford base32.
_TOKEN_PATTERN = re.compile(r"tck_(key-[0-7][0-9a-hjkmnp-tv-z]{25})_([A-Za-z0-9_-]{43})")


@dataclass(frozen=True, slots=True)
class ParsedToken:
    """A well-formed token split into its key id and secret; the secret stays out of reprs."""

    key_id: str
    secret: bytes = field(repr=False)


def new_secret() -> bytes:
    """Return a fresh 256-bit secret."""
    return secrets.token_bytes(SECRET_BYTES)


def format_token(key_id: str, secret: bytes) -> str:
    """Return the text form of the key `key_id` with `secret`."""
    encoded = base64.urlsafe_b64encode(secret).rstrip(b"=").decode("ascii")
    return f"{_TOKEN_PREFIX}{key_id}_{encoded}"


def parse_token(token: object) -> ParsedToken | None:
    """Split a token into key id and secret, or return None if it is not exactly well formed."""
    if not isinstance(token, str):
        return None
    match = _TOKEN_PATTERN.fullmatch(token)
    if match is None:
        return None
    key_id, encoded = match.groups()
    secret = base64.urlsafe_b64decode(encoded + "=")
    # The last character carries two spare bits; only the canonical form (zeros) is accepted.
    if format_token(key_id, secret) != token:
        return None
    return ParsedToken(key_id, secret)
