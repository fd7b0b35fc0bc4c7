"""Custom roles: list a tenant's roles and define new ones."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from thecloud.control.api.body import Field, parse_body, parse_object
from thecloud.control.api.call import Call
from thecloud.control.api.errors import ApiError
from thecloud.control.api.resources.paging import page_after_str, page_limit
from thecloud.control.api.responses import json_response, listing
from thecloud.control.api.router import Route
from thecloud.control.app import Response
from thecloud.control.iam import Action, Permission, Role

__all__ = ["ROUTES"]

_TYPE = "role"
_CREATE_FIELDS = {"name": Field(str), "permissions": Field(list)}
_PERMISSION_FIELDS = {
    "action": Field(str),
    "resource_type": Field(str),
    "own_only": Field(bool, required=False),
}
# A role is a handful of grants; this bound keeps one request from building a huge record.
_MAX_PERMISSIONS = 256


def _role(role: Role) -> dict[str, Any]:
    permissions = sorted(
        (
            {"action": str(p.action), "resource_type": p.resource_type, "own_only": p.own_only}
            for p in role.permissions
        ),
        key=lambda p: (str(p["resource_type"]), str(p["action"]), bool(p["own_only"])),
    )
    return {"name": role.name, "builtin": role.builtin, "permissions": permissions}


def _permissions(raw: list[Any]) -> list[Permission]:
    if len(raw) > _MAX_PERMISSIONS:
        raise ApiError(HTTPStatus.BAD_REQUEST, f"a role holds at most {_MAX_PERMISSIONS} grants")
    permissions = []
    for index, item in enumerate(raw):
        fields = parse_object(item, _PERMISSION_FIELDS, f"permissions[{index}]")
        permissions.append(
            Permission(
                Action.parse(fields["action"]),
                fields["resource_type"],
                fields.get("own_only", False),
            )
        )
    return permissions


async def _list(call: Call) -> Response:
    await call.authorize(Action.LIST, _TYPE)
    name = f"roles:{call.tenant_id}"
    roles, after = await call.services.roles.list(
        call.tenant_id, limit=page_limit(call), start_after=page_after_str(call, name)
    )
    return listing([_role(role) for role in roles], call.pages.issue(name, after))


async def _create(call: Call) -> Response:
    call.audit_resource = call.resource("roles")
    await call.authorize(Action.CREATE, _TYPE)
    fields = parse_body(call.request.body, _CREATE_FIELDS)
    permissions = _permissions(fields["permissions"])
    role = await call.services.roles.create(call.tenant_id, fields["name"], permissions)
    call.audit_resource = call.resource("roles", role.name)
    return json_response(_role(role), HTTPStatus.CREATED)


_BASE = "/v1/tenants/{tenant}/roles"

#: The routes of this group (custom roles only; the built-ins are documented in `roles`).
ROUTES = [
    Route("GET", _BASE, _list, "role.list"),
    Route("POST", _BASE, _create, "role.create"),
]
