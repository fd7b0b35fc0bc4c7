"""Role bindings: grant a role to a principal (maybe in one project), list and revoke them."""

from __future__ import annotations

from collections.abc import AsyncIterator

from thecloud.control.iam.records import PrincipalKind
from thecloud.control.models.requests import CreateRoleBinding
from thecloud.sdk.models import Deleted, RoleBinding, as_document, read
from thecloud.sdk.resources.base import Resource

__all__ = ["RoleBindings"]


class RoleBindings(Resource):
    """The tenant's role bindings, filed under their principal."""

    async def grant(
        self,
        principal_id: str,
        role: str,
        *,
        principal_kind: PrincipalKind = PrincipalKind.SERVICE_ACCOUNT,
        project_id: str | None = None,
    ) -> RoleBinding:
        """Give `principal_id` the role `role`, tenant-wide or in `project_id` only."""
        body = as_document(CreateRoleBinding(principal_kind, principal_id, role, project_id))
        document = await self._transport.request(
            "POST", await self._path("role-bindings"), body=body
        )
        return read(RoleBinding, document)

    async def list(
        self, principal_id: str, *, page_size: int | None = None
    ) -> AsyncIterator[RoleBinding]:
        """Yield the bindings of one principal."""
        params: dict[str, str | int] = {"principal_id": principal_id}
        if page_size is not None:
            params["limit"] = page_size
        async for item in self._transport.pages(await self._path("role-bindings"), params):
            yield read(RoleBinding, item)

    async def revoke(self, principal_id: str, binding_id: str) -> Deleted:
        """Remove one of a principal's bindings."""
        path = await self._path("role-bindings", binding_id)
        document = await self._transport.request(
            "DELETE", path, params={"principal_id": principal_id}
        )
        return read(Deleted, document)
