"""API keys: create and rotate return the token once; list shows keys without secrets."""

from __future__ import annotations

from collections.abc import AsyncIterator

from thecloud.control.iam.records import PrincipalKind
from thecloud.control.models.requests import CreateKey
from thecloud.sdk.models import ApiKey, IssuedKey, as_document, read
from thecloud.sdk.resources.base import Resource

__all__ = ["Keys"]


class Keys(Resource):
    """The tenant's API keys."""

    async def create(
        self,
        principal_id: str,
        name: str,
        *,
        principal_kind: PrincipalKind = PrincipalKind.SERVICE_ACCOUNT,
    ) -> IssuedKey:
        """Issue a key for a principal; the returned token is never shown again."""
        body = as_document(CreateKey(principal_kind, principal_id, name))
        return read(
            IssuedKey, await self._transport.request("POST", await self._path("keys"), body=body)
        )

    async def list(
        self, *, principal_id: str | None = None, page_size: int | None = None
    ) -> AsyncIterator[ApiKey]:
        """Yield the keys, all of them or one principal's."""
        params: dict[str, str | int] = {}
        if principal_id is not None:
            params["principal_id"] = principal_id
        if page_size is not None:
            params["limit"] = page_size
        async for item in self._transport.pages(await self._path("keys"), params):
            yield read(ApiKey, item)

    async def rotate(self, key_id: str) -> IssuedKey:
        """Replace a key's secret; the old token stops working at once."""
        path = await self._path("keys", key_id, "rotate")
        return read(IssuedKey, await self._transport.request("POST", path))

    async def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key; it is refused from the next request on."""
        return read(
            ApiKey, await self._transport.request("DELETE", await self._path("keys", key_id))
        )
