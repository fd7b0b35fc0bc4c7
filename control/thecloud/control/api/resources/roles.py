"""Custom roles: list a tenant's roles, define, show and delete them.

A custom role's version is its ETag; DELETE honours If-Match.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from thecloud.control.api.call import Call
from thecloud.control.api.errors import ApiError
from thecloud.control.api.openapi import LIST_QUERY
from thecloud.control.api.resources.paging import page_after_str, page_limit
from thecloud.control.api.responses import json_response, listing, versioned
from thecloud.control.api.router import ListOf, Route, Versioned
from thecloud.control.app import Response
from thecloud.control.iam import Action, Permission, Role
from thecloud.control.models.requests import CreateRole
from thecloud.control.models.responses import Deleted
from thecloud.control.models.responses import Role as RoleDocument

__all__ = ["ROUTES"]

_TYPE = "role"
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
    body = call.body(CreateRole)
    if len(body.permissions) > _MAX_PERMISSIONS:
        raise ApiError(HTTPStatus.BAD_REQUEST, f"a role holds at most {_MAX_PERMISSIONS} grants")
    permissions = [Permission(p.action, p.resource_type, p.own_only) for p in body.permissions]
    call.audit_resource = call.resource("roles", body.name)
    role = await call.services.roles.create(call.tenant_id, body.name, permissions)
    return versioned(_role(role), 1, HTTPStatus.CREATED)


async def _get(call: Call) -> Response:
    await call.authorize(Action.READ, _TYPE)
    role, version = await call.services.roles.get_custom(call.tenant_id, call.params["name"])
    return versioned(_role(role), version)


async def _delete(call: Call) -> Response:
    call.audit_resource = call.resource("roles", call.params["name"])
    await call.authorize(Action.DELETE, _TYPE)
    await call.services.roles.delete(
        call.tenant_id, call.params["name"], expect_version=call.if_match()
    )
    return json_response({"id": call.params["name"], "deleted": True})


_BASE = "/v1/tenants/{tenant}/roles"

#: The routes of this group (custom roles only; the built-ins are documented in `roles`).
ROUTES = [
    Route(
        "GET",
        _BASE,
        _list,
        "role.list",
        summary="List the tenant's custom roles",
        response=ListOf(RoleDocument),
        query=LIST_QUERY,
    ),
    Route(
        "POST",
        _BASE,
        _create,
        "role.create",
        summary="Define a custom role",
        body=CreateRole,
        response=Versioned(RoleDocument),
        status=HTTPStatus.CREATED,
    ),
    Route(
        "GET",
        f"{_BASE}/{{name}}",
        _get,
        "role.read",
        summary="Show a custom role",
        response=Versioned(RoleDocument),
        conditional=True,
    ),
    Route(
        "DELETE",
        f"{_BASE}/{{name}}",
        _delete,
        "role.delete",
        summary="Delete a custom role (its bindings then grant nothing)",
        response=Deleted,
        conditional=True,
    ),
]
