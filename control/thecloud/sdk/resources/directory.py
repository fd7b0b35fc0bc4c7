"""Projects, users and service accounts: the same four calls on three collections."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Generic, TypeVar

from thecloud.sdk.models import Deleted, Project, ServiceAccount, User, read
from thecloud.sdk.resources.base import IfMatch, Resource, if_match_header

__all__ = ["Projects", "ServiceAccounts", "Users"]

R = TypeVar("R", Project, ServiceAccount, User)


class _Collection(Resource, Generic[R]):
    _segment: str
    _model: type[R]

    async def create(self, name: str) -> R:
        """Create one called `name`."""
        document = await self._transport.request(
            "POST", await self._path(self._segment), body={"name": name}
        )
        return read(self._model, document)

    async def get(self, record_id: str) -> R:
        """Return one by id."""
        return read(
            self._model,
            await self._transport.request("GET", await self._path(self._segment, record_id)),
        )

    async def list(self, *, page_size: int | None = None) -> AsyncIterator[R]:
        """Yield every one, fetching pages of `page_size` as needed."""
        params = {} if page_size is None else {"limit": page_size}
        async for item in self._transport.pages(await self._path(self._segment), params):
            yield read(self._model, item)

    async def delete(self, record_id: str, *, if_match: IfMatch = None) -> Deleted:
        """Delete one by id (only at version `if_match`, if given)."""
        path = await self._path(self._segment, record_id)
        headers = if_match_header(if_match)
        return read(Deleted, await self._transport.request("DELETE", path, headers=headers))


class Projects(_Collection[Project]):
    """The tenant's projects."""

    _segment = "projects"
    _model = Project


class ServiceAccounts(_Collection[ServiceAccount]):
    """The tenant's service accounts."""

    _segment = "service-accounts"
    _model = ServiceAccount


class Users(_Collection[User]):
    """The tenant's users (human accounts)."""

    _segment = "users"
    _model = User
