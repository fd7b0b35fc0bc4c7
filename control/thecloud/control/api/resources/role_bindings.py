"""Role bindings: list a principal's bindings, grant a role, revoke a binding.

The IAM store files bindings under their principal, so listing and revoking take the principal
as the `principal_id` query parameter.
"""

from __future__ import annotations

from http import HTTPStatus

from thecloud.control.api.call import Call
from thecloud.control.api.errors import ApiError
from thecloud.control.api.openapi import LIST_QUERY
from thecloud.control.api.resources.paging import page_after_str, page_limit
from thecloud.control.api.responses import json_response, listing, record
from thecloud.control.api.router import ListOf, QueryParam, Route
from thecloud.control.app import Response
from thecloud.control.iam import Action, RoleBinding
from thecloud.control.iam.role_store import new_binding_id
from thecloud.control.models.requests import CreateRoleBinding
from thecloud.control.models.responses import Deleted

__all__ = ["ROUTES"]

_TYPE = "role-binding"
_PRINCIPAL = QueryParam(
    "principal_id", {"type": "string"}, "The principal whose bindings these are.", required=True
)


def _principal_param(call: Call) -> str:
    principal_id = call.request.query.get("principal_id")
    if not principal_id:
        raise ApiError(HTTPStatus.BAD_REQUEST, "the principal_id query parameter is required")
    return principal_id


async def _list(call: Call) -> Response:
    await call.authorize(Action.LIST, _TYPE)
    principal_id = _principal_param(call)
    name = f"role-bindings:{call.tenant_id}:{principal_id}"
    limit = page_limit(call)
    after = page_after_str(call, name)
    # A principal has a few bindings, all read by every authorization anyway; page in memory.
    bindings = sorted(
        await call.services.bindings.list_for(call.tenant_id, principal_id), key=lambda b: b.id
    )
    remaining = [b for b in bindings if after is None or b.id > after]
    page = remaining[:limit]
    next_after = page[-1].id if len(remaining) > limit else None
    return listing([record(b) for b in page], call.pages.issue(name, next_after))


async def _create(call: Call) -> Response:
    call.audit_resource = call.resource("role-bindings")
    body = call.body(CreateRoleBinding)
    await call.authorize(Action.CREATE, _TYPE, project_id=body.project_id)
    binding_id = new_binding_id()
    call.audit_resource = call.resource("role-bindings", binding_id)
    binding = await call.services.bindings.grant(
        call.tenant_id,
        body.principal_kind,
        body.principal_id,
        body.role,
        body.project_id,
        binding_id=binding_id,
    )
    return json_response(record(binding), HTTPStatus.CREATED)


async def _delete(call: Call) -> Response:
    call.audit_resource = call.resource("role-bindings", call.params["id"])
    await call.authorize(Action.DELETE, _TYPE)
    await call.services.bindings.revoke(call.tenant_id, _principal_param(call), call.params["id"])
    return json_response({"id": call.params["id"], "deleted": True})


_BASE = "/v1/tenants/{tenant}/role-bindings"

#: The routes of this group.
ROUTES = [
    Route(
        "GET",
        _BASE,
        _list,
        "role-binding.list",
        summary="List a principal's role bindings",
        response=ListOf(RoleBinding),
        query=(*LIST_QUERY, _PRINCIPAL),
    ),
    Route(
        "POST",
        _BASE,
        _create,
        "role-binding.create",
        summary="Grant a role to a principal (tenant-wide or in one project)",
        body=CreateRoleBinding,
        response=RoleBinding,
        status=HTTPStatus.CREATED,
    ),
    Route(
        "DELETE",
        f"{_BASE}/{{id}}",
        _delete,
        "role-binding.delete",
        summary="Revoke a role binding",
        response=Deleted,
        query=(_PRINCIPAL,),
    ),
]
