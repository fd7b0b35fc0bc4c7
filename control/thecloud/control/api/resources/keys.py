"""API keys: create (the token is in this response only), list, rotate and revoke.

Checks pass the key's owner, so the built-in member role manages its own keys and no others.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from thecloud.control.api.call import Call
from thecloud.control.api.openapi import LIST_QUERY
from thecloud.control.api.resources.paging import page_after_str, page_limit
from thecloud.control.api.responses import json_response, listing, record
from thecloud.control.api.router import ListOf, QueryParam, Route
from thecloud.control.app import Response
from thecloud.control.iam import Action, ApiKey, IssuedApiKey
from thecloud.control.iam.api_keys import new_key_id
from thecloud.control.models.requests import CreateKey
from thecloud.control.models.responses import IssuedKey

__all__ = ["ROUTES"]

_TYPE = "key"


def _issued(issued: IssuedApiKey) -> dict[str, Any]:
    return {"key": record(issued.key), "token": issued.token}


async def _create(call: Call) -> Response:
    call.audit_resource = call.resource("keys")
    body = call.body(CreateKey)
    await call.authorize(Action.CREATE, _TYPE, owner_id=body.principal_id)
    key_id = new_key_id()
    call.audit_resource = call.resource("keys", key_id)
    issued = await call.services.keys.create(
        call.tenant_id, body.principal_kind, body.principal_id, body.name, key_id=key_id
    )
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
    Route(
        "POST",
        _BASE,
        _create,
        "key.create",
        summary="Issue an API key (the token is in this response only)",
        body=CreateKey,
        response=IssuedKey,
        status=HTTPStatus.CREATED,
    ),
    Route(
        "GET",
        _BASE,
        _list,
        "key.list",
        summary="List the tenant's API keys (never their secrets)",
        response=ListOf(ApiKey),
        query=(
            *LIST_QUERY,
            QueryParam("principal_id", {"type": "string"}, "Only this account's keys."),
        ),
    ),
    Route(
        "POST",
        f"{_BASE}/{{id}}/rotate",
        _rotate,
        "key.rotate",
        summary="Give a key a new secret; the old one stops working at once",
        response=IssuedKey,
    ),
    Route(
        "DELETE",
        f"{_BASE}/{{id}}",
        _revoke,
        "key.revoke",
        summary="Revoke a key for good",
        response=ApiKey,
    ),
]
