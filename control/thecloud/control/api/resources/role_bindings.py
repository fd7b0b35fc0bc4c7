"""Role bindings: list a principal's bindings, grant a role, revoke a binding.

The IAM store files bindings under their principal, so listing and revoking take the principal
as the `principal_id` query parameter.
"""

from __future__ import annotations

from http import HTTPStatus

from thecloud.control.api.body import Field, parse_body
from thecloud.control.api.call import Call
from thecloud.control.api.errors import ApiError
from thecloud.control.api.resources.keys import parse_principal_kind
from thecloud.control.api.resources.paging import page_after_str, page_limit
from thecloud.control.api.responses import json_response, listing, record
from thecloud.control.api.router import Route
from thecloud.control.app import Response
from thecloud.control.iam import Action

__all__ = ["ROUTES"]

_TYPE = "role-binding"
_CREATE_FIELDS = {
    "principal_kind": Field(str),
    "principal_id": Field(str),
    "role": Field(str),
    "project_id": Field(str, required=False),
}


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
    fields = parse_body(call.request.body, _CREATE_FIELDS)
    project_id = fields.get("project_id")
    await call.authorize(Action.CREATE, _TYPE, project_id=project_id)
    binding = await call.services.bindings.grant(
        call.tenant_id,
        parse_principal_kind(fields["principal_kind"]),
        fields["principal_id"],
        fields["role"],
        project_id,
    )
    call.audit_resource = call.resource("role-bindings", binding.id)
    return json_response(record(binding), HTTPStatus.CREATED)


async def _delete(call: Call) -> Response:
    call.audit_resource = call.resource("role-bindings", call.params["id"])
    await call.authorize(Action.DELETE, _TYPE)
    await call.services.bindings.revoke(call.tenant_id, _principal_param(call), call.params["id"])
    return json_response({"id": call.params["id"], "deleted": True})


_BASE = "/v1/tenants/{tenant}/role-bindings"

#: The routes of this group.
ROUTES = [
    Route("GET", _BASE, _list, "role-binding.list"),
    Route("POST", _BASE, _create, "role-binding.create"),
    Route("DELETE", f"{_BASE}/{{id}}", _delete, "role-binding.delete"),
]
