"""One authenticated API call: the request, the caller, the tenant it names, and the checks.

`authorize` is the only way a handler gets permission to act; it also records what the call is
about, so the dispatcher can write the audit entry however the handler ends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TypeVar

from thecloud.control.api.errors import ApiError
from thecloud.control.api.pagination import PageTokens
from thecloud.control.api.request import Request
from thecloud.control.api.services import IamServices
from thecloud.control.iam import Action, Principal
from thecloud.control.models.parsing import parse_json

__all__ = ["Call"]

M = TypeVar("M")


@dataclass(slots=True)
class Call:
    """The context a resource handler works in."""

    request: Request
    principal: Principal
    tenant_id: str
    params: dict[str, str]
    services: IamServices
    pages: PageTokens
    #: What the audit entry names; handlers refine it (say, with a new resource's id).
    audit_resource: str = field(default="")
    #: Whose audit log the entry goes to: the caller's own tenant, so a probe of another tenant
    #: stays in the prober's log, until a system admin is let act on another tenant; then the
    #: target's, so each tenant's log holds every change made to it (see
    #: `authorize_in_tenant_or_system`). System admins read any tenant's log.
    audit_tenant_id: str = field(default="")

    async def authorize(
        self,
        action: Action,
        resource_type: str,
        *,
        project_id: str | None = None,
        owner_id: str | None = None,
    ) -> None:
        """Return if the caller may do this here; PermissionDeniedError (403) otherwise."""
        await self.services.authorizer.authorize(
            self.principal,
            action,
            resource_type,
            self.tenant_id,
            project_id,
            owner_id=owner_id,
        )

    async def authorize_in_tenant_or_system(self, action: Action, resource_type: str) -> None:
        """Allow a caller of this tenant with the permission, or a system admin from anywhere.

        Any other caller gets 404, as for every route of a tenant not its own. A system admin's
        change to another tenant is audited in that tenant's log.
        """
        if self.tenant_id == self.principal.tenant_id:
            await self.authorize(action, resource_type)
            return
        if not await self.services.authorizer.is_system_admin(self.principal):
            raise ApiError(HTTPStatus.NOT_FOUND, f"there is no resource at {self.request.path}")
        # Only a tenant that exists has a log to take the entry (NotFoundError, 404, otherwise).
        await self.services.directory.tenants.get(self.tenant_id)
        self.audit_tenant_id = self.tenant_id

    def body(self, model: type[M]) -> M:
        """Return the request body parsed as `model`; 400 naming the field if it does not fit."""
        return parse_json(self.request.body, model)

    def if_match(self) -> int | None:
        """Return the version If-Match demands, None without the header or with `*`.

        ETags are strong (`"3"`); one that cannot be ours gets 412 from the caller's check
        (version -1 never matches), a list of several gets 400.
        """
        header = self.request.header("if-match")
        if header is None:
            return None
        tags = [tag.strip() for tag in header.split(",") if tag.strip()]
        if "*" in tags:
            return None
        if len(tags) != 1:
            raise ApiError(HTTPStatus.BAD_REQUEST, "If-Match takes exactly one ETag (or *)")
        tag = tags[0]
        inner = tag[1:-1] if len(tag) >= 2 and tag[0] == tag[-1] == '"' else ""
        return int(inner) if inner.isascii() and inner.isdigit() and len(inner) < 19 else -1

    def resource(self, *parts: str) -> str:
        """Return `tenants/<tenant>/<parts...>`, the form audit entries name resources in."""
        return "/".join(("tenants", self.tenant_id, *parts))
