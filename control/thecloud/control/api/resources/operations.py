"""Operations: the state of a long-running change, polled or awaited with `?wait=SECONDS`."""

from __future__ import annotations

from http import HTTPStatus

from thecloud.control.api.call import Call
from thecloud.control.api.errors import ApiError
from thecloud.control.api.responses import json_response, record
from thecloud.control.api.router import QueryParam, Route
from thecloud.control.app import Response
from thecloud.control.models.responses import Operation
from thecloud.control.operations import MAX_WAIT_SECONDS

__all__ = ["ROUTES", "operation_response"]


def operation_response(operation: object) -> Response:
    """Return 202 with the operation and its Location (the answer to a long-running change)."""
    document = record(operation)
    location = f"/v1/operations/{document['id']}".encode()
    return json_response(document, HTTPStatus.ACCEPTED, ((b"location", location),))


def _wait_param(call: Call) -> float:
    raw = call.request.query.get("wait")
    if raw is None:
        return 0.0
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= MAX_WAIT_SECONDS:
        raise ApiError(
            HTTPStatus.BAD_REQUEST,
            f"wait must be a number of seconds from 0 to {MAX_WAIT_SECONDS:g}",
        )
    return seconds


async def _get(call: Call) -> Response:
    wait = _wait_param(call)
    # An operation belongs to the caller's tenant; anyone there who can see it may poll it.
    operation = await call.services.operations.wait(call.tenant_id, call.params["id"], wait)
    return json_response(record(operation))


#: The routes of this group.
ROUTES = [
    Route(
        "GET",
        "/v1/operations/{id}",
        _get,
        "operation.read",
        summary="Show an operation; with ?wait=N, answer once it ends or after N seconds",
        response=Operation,
        query=(
            QueryParam(
                "wait",
                {"type": "number", "minimum": 0, "maximum": MAX_WAIT_SECONDS},
                "Seconds to wait for the operation to end before answering.",
            ),
        ),
    ),
]
