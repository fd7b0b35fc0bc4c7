"""The one authorization check: may this principal do this action on this resource type here?

Rules, in order:

1. A principal acts only in its own tenant; a request naming another tenant is denied before any
   binding is read, whatever roles the principal holds.
2. A binding limited to a project applies only to requests naming that project; a tenant-wide
   binding applies to every project of the tenant and to tenant-level requests.
3. A binding to a custom role that has since been deleted grants nothing.
4. The request is allowed if any applicable role allows it (see `roles`); otherwise it is denied.
"""

from __future__ import annotations

from thecloud.control.iam.errors import PermissionDeniedError
from thecloud.control.iam.records import Principal
from thecloud.control.iam.role_store import RoleBindingRepository, RoleRepository
from thecloud.control.iam.roles import Action, validate_resource_type

__all__ = ["Authorizer"]


class Authorizer:
    """Decides requests from the role bindings in the state store."""

    def __init__(self, roles: RoleRepository, bindings: RoleBindingRepository) -> None:
        self._roles = roles
        self._bindings = bindings

    async def authorize(
        self,
        principal: Principal,
        action: Action,
        resource_type: str,
        tenant_id: str,
        project_id: str | None = None,
        *,
        owner_id: str | None = None,
    ) -> None:
        """Return if allowed; raise PermissionDeniedError otherwise (see the module rules).

        `owner_id` names the principal owning the resource, for permissions limited to one's
        own resources (a member managing its own API keys).
        """
        action = Action.parse(action)
        validate_resource_type(resource_type)
        denied = PermissionDeniedError(f"not allowed to {action} {resource_type}")
        if principal.tenant_id != tenant_id:
            raise denied
        owns = owner_id is not None and owner_id == principal.id
        for binding in await self._bindings.list_for(tenant_id, principal.id):
            if binding.project_id is not None and binding.project_id != project_id:
                continue
            role = await self._roles.find(tenant_id, binding.role)
            if role is not None and role.allows(action, resource_type, owns=owns):
                return
        raise denied
