"""One authenticated API call: the request, the caller, the tenant it names, and the checks.

`authorize` is the only way a handler gets permission to act; it also records what the call is
about, so the dispatcher can write the audit entry however the handler ends.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from thecloud.control.api.pagination import PageTokens
from thecloud.control.api.request import Request
from thecloud.control.api.services import IamServices
from thecloud.control.iam import Action, Principal

__all__ = ["Call"]


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

    def resource(self, *parts: str) -> str:
        """Return `tenants/<tenant>/<parts...>`, the form audit entries name resources in."""
        return "/".join(("tenants", self.tenant_id, *parts))
