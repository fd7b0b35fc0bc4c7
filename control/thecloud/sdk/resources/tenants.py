"""Tenants and their quotas: one's own tenant for everyone, every tenant for system admins."""

from __future__ import annotations

from collections.abc import AsyncIterator

from thecloud.control.models.requests import CreateNamed
from thecloud.sdk.models import QuotaLimits, Quotas, Tenant, TenantCreated, as_document, read
from thecloud.sdk.resources.base import IfMatch, Resource, if_match_header, segment

__all__ = ["Tenants"]


class Tenants(Resource):
    """Tenants; `quotas` and `set_quotas` default to the client's own tenant."""

    async def list(self, *, page_size: int | None = None) -> AsyncIterator[Tenant]:
        """Yield the tenants this key may see (all of them for system admins)."""
        params = {} if page_size is None else {"limit": page_size}
        async for item in self._transport.pages("/v1/tenants", params):
            yield read(Tenant, item)

    async def get(self, tenant_id: str | None = None) -> Tenant:
        """Return a tenant (this client's own by default)."""
        path = await self._tenant_path(tenant_id)
        return read(Tenant, await self._transport.request("GET", path))

    async def create(self, name: str) -> TenantCreated:
        """Create a tenant with an admin service account and its first key (system admins)."""
        body = as_document(CreateNamed(name))
        return read(TenantCreated, await self._transport.request("POST", "/v1/tenants", body=body))

    async def quotas(self, tenant_id: str | None = None) -> Quotas:
        """Return a tenant's limits and usage."""
        path = await self._tenant_path(tenant_id, "quotas")
        return read(Quotas, await self._transport.request("GET", path))

    async def set_quotas(
        self, limits: QuotaLimits, tenant_id: str | None = None, *, if_match: IfMatch = None
    ) -> Quotas:
        """Replace every limit of a tenant (system admins); with `if_match`, only if the
        limits are still at that version."""
        path = await self._tenant_path(tenant_id, "quotas")
        document = await self._transport.request(
            "PUT", path, body=as_document(limits), headers=if_match_header(if_match)
        )
        return read(Quotas, document)

    async def _tenant_path(self, tenant_id: str | None, *parts: str) -> str:
        if tenant_id is None:
            return await self._path(*parts)
        return "/".join(("/v1/tenants", *(segment(p) for p in (tenant_id, *parts))))
