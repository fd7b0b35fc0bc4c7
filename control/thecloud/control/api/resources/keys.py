"""API keys: create (the token is in this response only), list, rotate and revoke.

Checks pass the key's owner, so the built-in member role manages its own keys and no others.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from thecloud.control.api.body import Field, parse_body
from thecloud.control.api.call import Call
from thecloud.control.api.errors import ApiError
from thecloud.control.api.resources.paging import page_after_str, page_limit
from thecloud.control.api.responses import json_response, listing, record
from thecloud.control.api.router import Route
from thecloud.control.app import Response
from thecloud.control.iam import Action, IssuedApiKey, PrincipalKind

__all__ = ["ROUTES", "parse_principal_kind"]

_TYPE = "key"
_CREATE_FIELDS = {"principal_kind": Field(str), "principal_id": Field(str), "name": Field(str)}


def parse_principal_kind(value: str) -> PrincipalKind:
    """Return `value` as a PrincipalKind; ApiError 400 if it names none."""
    try:
        return PrincipalKind(value)
    except ValueError:
        kinds = ", ".join(kind.value for kind in PrincipalKind)
        raise ApiError(HTTPStatus.BAD_REQUEST, f"principal_kind must be one of {kinds}") from None


def _issued(issued: IssuedApiKey) -> dict[str, Any]:
    return {"key": record(issued.key), "token": issued.token}


async def _create(call: Call) -> Response:
    call.audit_resource = call.resource("keys")
    fields = parse_body(call.request.body, _CREATE_FIELDS)
    await call.authorize(Action.CREATE, _TYPE, owner_id=fields["principal_id"])
    issued = await call.services.keys.create(
        call.tenant_id,
        parse_principal_kind(fields["principal_kind"]),
        fields["principal_id"],
        fields["name"],
    )
    call.audit_resource = call.resource("keys", issued.key.id)
    return json_response(_issued(issued), HTTPStatus.CREATED)


async def _list(call: Call) -> Response:
    principal_id = call.request.query.get("principal_id")
    await call.authorize(Action.LIST, _TYPE, owner_id=principal_id)
    name = f"keys:{call.tenant_id}:{principal_id or ''}"
    keys, after = await call.services.keys.list(
        call.tenant_id,
        principal_id=principal_id,
        limit=page_limit(call),
        start_after=page_after_str(call, name),
    )
    return listing([record(key) for key in keys], call.pages.issue(name, after))


async def _rotate(call: Call) -> Response:
    call.audit_resource = call.resource("keys", call.params["id"])
    key = await call.services.keys.get(call.tenant_id, call.params["id"])
    await call.authorize(Action.UPDATE, _TYPE, owner_id=key.principal_id)
    return json_response(_issued(await call.services.keys.rotate(call.tenant_id, key.id)))


async def _revoke(call: Call) -> Response:
    call.audit_resource = call.resource("keys", call.params["id"])
    key = await call.services.keys.get(call.tenant_id, call.params["id"])
    await call.authorize(Action.DELETE, _TYPE, owner_id=key.principal_id)
    return json_response(record(await call.services.keys.revoke(call.tenant_id, key.id)))


_BASE = "/v1/tenants/{tenant}/keys"

#: The routes of this group.
ROUTES = [
    Route("POST", _BASE, _create, "key.create"),
    Route("GET", _BASE, _list, "key.list"),
    Route("POST", f"{_BASE}/{{id}}/rotate", _rotate, "key.rotate"),
    Route("DELETE", f"{_BASE}/{{id}}", _revoke, "key.revoke"),
]
