"""Roles: the tenant's roles (built-in and custom) and new custom ones."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

from thecloud.sdk.models import Deleted, Permission, Role, as_document, read
from thecloud.sdk.resources.base import IfMatch, Resource, if_match_header

__all__ = ["Roles"]


class Roles(Resource):
    """The tenant's roles."""

    async def create(self, name: str, permissions: Iterable[Permission]) -> Role:
        """Define a custom role granting `permissions`."""
        body = {"name": name, "permissions": [as_document(p) for p in permissions]}
        return read(
            Role, await self._transport.request("POST", await self._path("roles"), body=body)
        )

    async def list(self, *, page_size: int | None = None) -> AsyncIterator[Role]:
        """Yield the tenant's custom roles (built-ins: admin, member, reader)."""
        params = {} if page_size is None else {"limit": page_size}
        async for item in self._transport.pages(await self._path("roles"), params):
            yield read(Role, item)

    async def get(self, name: str) -> Role:
        """Return one role by name."""
        return read(Role, await self._transport.request("GET", await self._path("roles", name)))

    async def delete(self, name: str, *, if_match: IfMatch = None) -> Deleted:
        """Delete a custom role (only at version `if_match`, if given)."""
        path = await self._path("roles", name)
        headers = if_match_header(if_match)
        return read(Deleted, await self._transport.request("DELETE", path, headers=headers))
