"""Tenant secrets: store a new version (rotation), read a value, list names and versions, delete.

Values travel base64-encoded (`value_base64`), so any bytes round-trip exactly. A value is only
ever in the body of a PUT request or a GET response: never in audit entries, logs or errors.
A secret's ETag is its current version number; PUT and DELETE honour If-Match.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from http import HTTPStatus

from thecloud.control.api.call import Call
from thecloud.control.api.errors import ApiError
from thecloud.control.api.openapi import LIST_QUERY
from thecloud.control.api.resources.paging import page_after_str, page_limit
from thecloud.control.api.responses import etag, json_response, listing, record
from thecloud.control.api.router import ListOf, QueryParam, Route
from thecloud.control.app import Response
from thecloud.control.iam import Action, SecretValue
from thecloud.control.iam.secrets_store import SecretVersion
from thecloud.control.models.requests import PutSecret
from thecloud.control.models.responses import Deleted, Secret, SecretWithValue
from thecloud.core.errors import NotFoundError

__all__ = ["ROUTES"]

_TYPE = "secret"


def _decode(value: str) -> SecretValue:
    try:
        return SecretValue(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError):
        # ValueError also covers the size limit; the message must not quote the value.
        raise ApiError(
            HTTPStatus.BAD_REQUEST, "value_base64 must be standard base64 of at most 64 KiB"
        ) from None


async def _put(call: Call) -> Response:
    name = call.params["name"]
    call.audit_resource = call.resource("secrets", name)
    try:
        await call.services.secrets.metadata(call.tenant_id, name)
        action = Action.UPDATE
    except NotFoundError:
        action = Action.CREATE
    await call.authorize(action, _TYPE)
    value = _decode(call.body(PutSecret).value_base64)
    metadata = await call.services.secrets.put(
        call.tenant_id, name, value, expect_version=call.if_match()
    )
    return json_response(record(metadata), headers=(etag(metadata.version),))


def _version_param(call: Call) -> int | None:
    raw = call.request.query.get("version")
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) < 1 << 31:
        raise ApiError(HTTPStatus.BAD_REQUEST, "version must be an integer >= 1")
    return int(raw)


async def _get(call: Call) -> Response:
    await call.authorize(Action.READ, _TYPE)
    name = call.params["name"]
    metadata = await call.services.secrets.metadata(call.tenant_id, name)
    wanted = _version_param(call) or metadata.version
    value = await call.services.secrets.get(call.tenant_id, name, wanted)
    document = record(metadata) | {
        "version": wanted,
        "value_base64": base64.b64encode(value.reveal()).decode(),
    }
    return json_response(document, headers=(etag(metadata.version),))


async def _versions(call: Call) -> Response:
    await call.authorize(Action.LIST, _TYPE)
    found = await call.services.secrets.versions(call.tenant_id, call.params["name"])
    return listing([dataclasses.asdict(version) for version in found], None)


async def _delete(call: Call) -> Response:
    name = call.params["name"]
    call.audit_resource = call.resource("secrets", name)
    await call.authorize(Action.DELETE, _TYPE)
    await call.services.secrets.delete(call.tenant_id, name, expect_version=call.if_match())
    return json_response({"id": name, "deleted": True})


async def _list(call: Call) -> Response:
    await call.authorize(Action.LIST, _TYPE)
    name = f"secrets:{call.tenant_id}"
    found, after = await call.services.secrets.list(
        call.tenant_id, limit=page_limit(call), start_after=page_after_str(call, name)
    )
    return listing([record(metadata) for metadata in found], call.pages.issue(name, after))


_BASE = "/v1/tenants/{tenant}/secrets"
_ITEM = f"{_BASE}/{{name}}"

#: The routes of this group.
ROUTES = [
    Route(
        "GET",
        _BASE,
        _list,
        "secret.list",
        summary="List the tenant's secrets (names and versions, never values)",
        response=ListOf(Secret),
        query=LIST_QUERY,
    ),
    Route(
        "PUT",
        _ITEM,
        _put,
        "secret.put",
        summary="Store a new version of a secret (creates it, or rotates it)",
        body=PutSecret,
        response=Secret,
        conditional=True,
    ),
    Route(
        "GET",
        _ITEM,
        _get,
        "secret.read",
        summary="Read a secret's value (the current version, or ?version=N)",
        response=SecretWithValue,
        query=(
            QueryParam(
                "version",
                {"type": "integer", "minimum": 1},
                "The version to read (default: latest).",
            ),
        ),
        conditional=True,
    ),
    Route(
        "GET",
        f"{_ITEM}/versions",
        _versions,
        "secret.versions",
        summary="List a secret's versions (numbers and times, never values)",
        response=ListOf(SecretVersion),
    ),
    Route(
        "DELETE",
        _ITEM,
        _delete,
        "secret.delete",
        summary="Delete a secret and every version of it",
        response=Deleted,
        conditional=True,
    ),
]
