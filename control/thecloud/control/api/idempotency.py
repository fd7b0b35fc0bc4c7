"""`Idempotency-Key` on POST: the first response is stored and replayed for the same request.

Entries live at `api/idempotency/<tenant>/<principal>/<sha256(key)>`: scoped to the caller as
well as the tenant, so one principal can never receive a response (an API key's token, say) that
was issued to another. The stored response is sealed with AES-256-GCM under the master key, since
some responses carry secrets, with the entry's key as associated data so a sealed response cannot
be moved to another entry. Entries older than `RETENTION_SECONDS` are ignored and overwritten.

Two requests with the same key racing each other both run; the second's store write then fails
its `expect_version` and it returns its own response. Replays are only exact after the first
request has finished, which is what clients retrying after a timeout need.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from http import HTTPStatus
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from thecloud.control.api.errors import ApiError
from thecloud.control.api.request import Request
from thecloud.control.app import Response
from thecloud.control.iam import ServerKey
from thecloud.core.errors import ConflictError
from thecloud.core.state import StateStore

__all__ = ["RETENTION_SECONDS", "IdempotencyStore"]

#: How long a stored response is replayed.
RETENTION_SECONDS: Final = 24 * 3600
_PREFIX: Final = "api/idempotency/"
_NONCE_BYTES: Final = 12
_MAX_KEY_CHARS: Final = 255


def _fingerprint(request: Request) -> str:
    digest = hashlib.sha256()
    for part in (request.method, request.path, json.dumps(sorted(request.query.items()))):
        digest.update(part.encode() + b"\0")
    digest.update(request.body)
    return digest.hexdigest()


class IdempotencyStore:
    """Remembers and replays first responses per idempotency key."""

    def __init__(self, store: StateStore, master_key: ServerKey) -> None:
        self._store = store
        self._aead = AESGCM(master_key.material)

    def __repr__(self) -> str:
        return "IdempotencyStore(<redacted>)"

    @staticmethod
    def key_of(request: Request) -> str | None:
        """Return the request's Idempotency-Key, None without one; ApiError 400 if malformed."""
        key = request.header("idempotency-key")
        if key is None:
            return None
        if not key or len(key) > _MAX_KEY_CHARS or not (key.isascii() and key.isprintable()):
            raise ApiError(
                HTTPStatus.BAD_REQUEST,
                f"Idempotency-Key must be 1 to {_MAX_KEY_CHARS} printable ASCII characters",
            )
        return key

    @staticmethod
    def _where(tenant_id: str, principal_id: str, key: str) -> str:
        return f"{_PREFIX}{tenant_id}/{principal_id}/{hashlib.sha256(key.encode()).hexdigest()}"

    async def replay(
        self, tenant_id: str, principal_id: str, key: str, request: Request
    ) -> Response | None:
        """Return the stored response for `key`, None if there is none (or it expired).

        ApiError 422 if the key was used for a different request.
        """
        where = self._where(tenant_id, principal_id, key)
        entry = await self._store.get(where)
        if entry is None:
            return None
        try:
            fields = json.loads(entry.value)
            sealed = base64.b64decode(fields["sealed"])
            plain = self._aead.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], where.encode())
            stored = json.loads(plain)
        except (ValueError, TypeError, KeyError, InvalidTag):
            # An unreadable entry is as good as none: the request runs and overwrites it.
            return None
        if time.time() - stored["at"] > RETENTION_SECONDS:
            return None
        if stored["fingerprint"] != _fingerprint(request):
            raise ApiError(
                HTTPStatus.UNPROCESSABLE_ENTITY,
                "this Idempotency-Key was already used for a different request",
            )
        # Headers such as Location (of an operation) and ETag belong to the answer too.
        headers = tuple(
            (name.encode("latin-1"), value.encode("latin-1"))
            for name, value in stored.get("headers", [])
        )
        return Response(stored["status"], base64.b64decode(stored["body"]), stored["type"], headers)

    async def remember(
        self, tenant_id: str, principal_id: str, key: str, request: Request, response: Response
    ) -> None:
        """Store `response` as the answer to `key` (replacing an expired or unreadable entry)."""
        where = self._where(tenant_id, principal_id, key)
        plain = json.dumps(
            {
                "at": time.time(),
                "fingerprint": _fingerprint(request),
                "status": response.status,
                "type": response.content_type,
                "headers": [
                    [name.decode("latin-1"), value.decode("latin-1")]
                    for name, value in response.headers
                ],
                "body": base64.b64encode(response.body).decode(),
            }
        ).encode()
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = nonce + self._aead.encrypt(nonce, plain, where.encode())
        value = json.dumps({"sealed": base64.b64encode(sealed).decode()}).encode()
        current = await self._store.get(where)
        try:
            await self._store.put(
                where, value, expect_version=0 if current is None else current.version
            )
        except ConflictError:
            # A concurrent request with the same key stored its response first; keep that one.
            return
