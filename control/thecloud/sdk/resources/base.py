"""What every resource class shares: the transport and the tenant its paths live under."""

from __future__ import annotations

from typing import Final, TypeAlias
from urllib.parse import quote

from thecloud.sdk.errors import NotConfiguredError
from thecloud.sdk.transport import Transport

__all__ = ["IfMatch", "Resource", "TenantScope", "if_match_header", "segment"]

_SEVERAL_TENANTS: Final = (
    "this key sees several tenants: set THECLOUD_TENANT (or tenant in the config file) "
    "to the one to work in; `thecloud tenant list` shows them"
)


#: A condition on a resource's version, taken by every call that changes a versioned resource:
#: the version its model's `version` holds (`3` or `"3"`), or an ETag as the server sent it
#: (`'"3"'`); the change is refused (PreconditionFailedError) if the resource has moved on.
IfMatch: TypeAlias = int | str | None


def if_match_header(if_match: IfMatch) -> dict[str, str]:
    """Return the If-Match header demanding `if_match` (none for None)."""
    if if_match is None:
        return {}
    tag = str(if_match)
    return {"if-match": f'"{tag}"' if tag.isascii() and tag.isdigit() else tag}


def segment(part: str) -> str:
    """Return one path segment; quoting keeps a stray '/' or '?' in an id from changing route."""
    return quote(part, safe="")


class TenantScope:
    """The tenant requests go to: the configured one, else the only one the key can see.

    Keys belong to one tenant and see only it (`GET /v1/tenants` lists just that tenant), so
    most callers never configure a tenant; system admins, who see every tenant, must.
    """

    def __init__(self, transport: Transport, tenant: str | None) -> None:
        self._transport = transport
        self._tenant = tenant

    async def tenant_id(self) -> str:
        """Return the tenant id, asking the API once if it was not configured."""
        if not self._tenant:
            visible = self._transport.pages("/v1/tenants", {"limit": 2})
            first = await anext(visible, None)
            if first is None or await anext(visible, None) is not None:
                raise NotConfiguredError(_SEVERAL_TENANTS)
            self._tenant = str(first["id"])
        return self._tenant


class Resource:
    """Base of the resource classes: builds `/v1/tenants/<tenant>/...` paths."""

    def __init__(self, transport: Transport, scope: TenantScope) -> None:
        self._transport = transport
        self._scope = scope

    async def _path(self, *parts: str) -> str:
        tenant = await self._scope.tenant_id()
        return "/v1/tenants/" + "/".join(segment(part) for part in (tenant, *parts))
