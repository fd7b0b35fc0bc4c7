"""Tenant secrets: store a new version, read the latest value, list names and versions.

Values travel base64-encoded (`value_base64`), so any bytes round-trip exactly. A value is only
ever in the body of a PUT request or a GET response: never in audit entries, logs or errors.
"""

from __future__ import annotations

import base64
import binascii
from http import HTTPStatus

from thecloud.control.api.body import Field, parse_body
from thecloud.control.api.call import Call
from thecloud.control.api.errors import ApiError
from thecloud.control.api.resources.paging import page_after_str, page_limit
from thecloud.control.api.responses import json_response, listing, record
from thecloud.control.api.router import Route
from thecloud.control.app import Response
from thecloud.control.iam import Action, SecretValue
from thecloud.core.errors import NotFoundError

__all__ = ["ROUTES"]

_TYPE = "secret"
_PUT_FIELDS = {"value_base64": Field(str)}


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
    value = _decode(parse_body(call.request.body, _PUT_FIELDS)["value_base64"])
    metadata = await call.services.secrets.put(call.tenant_id, name, value)
    return json_response(record(metadata))


async def _get(call: Call) -> Response:
    await call.authorize(Action.READ, _TYPE)
    name = call.params["name"]
    metadata = await call.services.secrets.metadata(call.tenant_id, name)
    value = await call.services.secrets.get(call.tenant_id, name, metadata.version)
    document = record(metadata) | {"value_base64": base64.b64encode(value.reveal()).decode()}
    return json_response(document)


async def _list(call: Call) -> Response:
    await call.authorize(Action.LIST, _TYPE)
    name = f"secrets:{call.tenant_id}"
    found, after = await call.services.secrets.list(
        call.tenant_id, limit=page_limit(call), start_after=page_after_str(call, name)
    )
    return listing([record(metadata) for metadata in found], call.pages.issue(name, after))


_BASE = "/v1/tenants/{tenant}/secrets"

#: The routes of this group.
ROUTES = [
    Route("GET", _BASE, _list, "secret.list"),
    Route("PUT", f"{_BASE}/{{name}}", _put, "secret.put"),
    Route("GET", f"{_BASE}/{{name}}", _get, "secret.read"),
]
