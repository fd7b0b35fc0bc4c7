"""The one authorization check: may this principal do this action on this resource type here?

Rules, in order:

1. A principal acts only in its own tenant; a request naming another tenant is denied before any
   binding is read, whatever roles the principal holds.
2. A binding limited to a project applies only to requests naming that project; a tenant-wide
   binding applies to every project of the tenant and to tenant-level requests.
3. A binding to a custom role that has since been deleted grants nothing.
4. The request is allowed if any applicable role allows it (see `roles`); otherwise it is denied.
5. System admins are the principals of the system tenant (the first one bootstrapped) that may
   create tenants; they manage tenants and quotas of every tenant, and nothing else elsewhere.
"""

from __future__ import annotations

from thecloud.control.iam.auth_cache import DecisionCache, IamGeneration
from thecloud.control.iam.directory import Directory
from thecloud.control.iam.errors import PermissionDeniedError
from thecloud.control.iam.records import Principal
from thecloud.control.iam.role_store import RoleBindingRepository, RoleRepository
from thecloud.control.iam.roles import Action, validate_resource_type

__all__ = ["Authorizer"]


class Authorizer:
    """Decides requests from the role bindings in the state store."""

    def __init__(
        self,
        roles: RoleRepository,
        bindings: RoleBindingRepository,
        directory: Directory,
        *,
        generation: IamGeneration | None = None,
    ) -> None:
        """`generation`, if given, enables caching decisions (see auth_cache)."""
        self._roles = roles
        self._bindings = bindings
        self._directory = directory
        self._decisions: DecisionCache[bool] | None = (
            None if generation is None else DecisionCache(generation)
        )

    async def is_system_admin(self, principal: Principal) -> bool:
        """Return whether `principal` administers the installation: it belongs to the system
        tenant and may create tenants there (the built-in admin role may)."""
        if principal.tenant_id != await self._directory.tenants.system_tenant_id():
            return False
        try:
            await self.authorize(principal, Action.CREATE, "tenant", principal.tenant_id)
        except PermissionDeniedError:
            return False
        return True

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
        owns = owner_id is not None and owner_id == principal.id
        key = (
            principal.tenant_id,
            principal.id,
            tenant_id,
            action,
            resource_type,
            project_id,
            owns,
        )
        allowed = None if self._decisions is None else self._decisions.get(key)
        if allowed is None:
            # Checked only when deciding: a cached decision was made for checked arguments and
            # the principal's own tenant (the key holds both tenants), so a hit needs neither.
            action = Action.parse(action)
            validate_resource_type(resource_type)
            if principal.tenant_id != tenant_id:
                raise PermissionDeniedError(f"not allowed to {action} {resource_type}")
            started = 0 if self._decisions is None else self._decisions.start()
            allowed = await self._decide(
                principal,
                action,
                resource_type,
                tenant_id=tenant_id,
                project_id=project_id,
                owns=owns,
            )
            if self._decisions is not None:
                self._decisions.put(key, started, allowed)
        if not allowed:
            raise PermissionDeniedError(f"not allowed to {action} {resource_type}")

    async def _decide(
        self,
        principal: Principal,
        action: Action,
        resource_type: str,
        *,
        tenant_id: str,
        project_id: str | None,
        owns: bool,
    ) -> bool:
        for binding in await self._bindings.list_for(tenant_id, principal.id):
            if binding.project_id is not None and binding.project_id != project_id:
                continue
            role = await self._roles.find(tenant_id, binding.role)
            if role is not None and role.allows(action, resource_type, owns=owns):
                return True
        return False
