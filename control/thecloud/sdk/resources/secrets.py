"""Secrets: store a new version, read the latest value, list names and versions.

Values travel base64-encoded, so any bytes round-trip; they are only ever in the body of a put
or the answer of a get.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

from thecloud.sdk.models import Deleted, Secret, SecretValue, SecretVersion, read
from thecloud.sdk.resources.base import IfMatch, Resource, if_match_header

__all__ = ["Secrets"]


class Secrets(Resource):
    """The tenant's secrets."""

    async def put(self, name: str, value: bytes, *, if_match: IfMatch = None) -> Secret:
        """Store `value` as the next version of `name` (creating it if needed); with
        `if_match`, only if the latest version is that one."""
        body = {"value_base64": base64.b64encode(value).decode("ascii")}
        path = await self._path("secrets", name)
        document = await self._transport.request(
            "PUT", path, body=body, headers=if_match_header(if_match)
        )
        return read(Secret, document)

    async def get(self, name: str) -> SecretValue:
        """Return the latest value of `name`."""
        document = await self._transport.request("GET", await self._path("secrets", name))
        value = base64.b64decode(document["value_base64"], validate=True)
        return SecretValue(read(Secret, document), value)

    async def list(self, *, page_size: int | None = None) -> AsyncIterator[Secret]:
        """Yield every secret's name and version (never values)."""
        params = {} if page_size is None else {"limit": page_size}
        async for item in self._transport.pages(await self._path("secrets"), params):
            yield read(Secret, item)

    async def versions(
        self, name: str, *, page_size: int | None = None
    ) -> AsyncIterator[SecretVersion]:
        """Yield the stored versions of `name` (numbers and times, never values)."""
        params = {} if page_size is None else {"limit": page_size}
        async for item in self._transport.pages(
            await self._path("secrets", name, "versions"), params
        ):
            yield read(SecretVersion, item)

    async def delete(self, name: str, *, if_match: IfMatch = None) -> Deleted:
        """Delete a secret and every version of it (only at version `if_match`, if given)."""
        path = await self._path("secrets", name)
        headers = if_match_header(if_match)
        return read(Deleted, await self._transport.request("DELETE", path, headers=headers))
