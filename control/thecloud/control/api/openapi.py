"""The OpenAPI 3.1 document of the whole HTTP API, generated from the route table and models.

Nothing here is written by hand per route: paths, methods, parameters, bodies, responses and
their schemas all come from `Route` entries and the model dataclasses, so the document describes
exactly what the router serves. Every operation documents its 4xx answers as problem documents.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any, Final

from thecloud.control.api.pagination import MAX_LIMIT
from thecloud.control.api.router import ListOf, QueryParam, Route, Versioned
from thecloud.control.models.jsonschema import SchemaRegistry, type_schema
from thecloud.control.models.responses import Health, Problem

__all__ = ["LIST_QUERY", "build_openapi"]

JsonObject = dict[str, Any]

#: The query parameters of every list route.
LIST_QUERY: Final = (
    QueryParam(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
        "Page size (default 100).",
    ),
    QueryParam("page_token", {"type": "string"}, "Opaque token from the previous page."),
)
_PARAM = re.compile(r"\{([a-z_]+)\}")
_PROBLEM_JSON: Final = "application/problem+json"
_SECURITY: Final[list[JsonObject]] = [{"bearer": []}, {"apiKey": []}]


def _response_schema(spec: Any, registry: SchemaRegistry) -> JsonObject:
    if isinstance(spec, ListOf):
        return {
            "type": "object",
            "properties": {
                "items": {"type": "array", "items": _response_schema(spec.item, registry)},
                "next_page_token": {"type": ["string", "null"]},
            },
            "required": ["items", "next_page_token"],
        }
    if isinstance(spec, Versioned):
        return {
            "allOf": [
                type_schema(spec.model, registry),
                {
                    "type": "object",
                    "properties": {"version": {"type": "integer", "minimum": 1}},
                    "required": ["version"],
                },
            ]
        }
    return type_schema(spec, registry)


def _problem_responses(route: Route, registry: SchemaRegistry) -> JsonObject:
    problem = {"content": {_PROBLEM_JSON: {"schema": registry.ref(Problem)}}}
    return {"4XX": {"description": "A problem document saying what was wrong.", **problem}}


def _parameters(route: Route) -> list[JsonObject]:
    parameters: list[JsonObject] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PARAM.findall(route.pattern)
    ]
    for query in route.query:
        parameters.append(
            {
                "name": query.name,
                "in": "query",
                "required": query.required,
                "description": query.description,
                "schema": query.schema,
            }
        )
    if route.method == "POST":
        parameters.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "Repeat a POST safely: the first success is replayed for 24 h.",
                "schema": {"type": "string", "minLength": 1, "maxLength": 255},
            }
        )
    if route.conditional and route.method in ("PUT", "PATCH", "DELETE"):
        parameters.append(
            {
                "name": "If-Match",
                "in": "header",
                "required": False,
                "description": "Act only if the resource's ETag is this one (else 412).",
                "schema": {"type": "string"},
            }
        )
    return parameters


def _operation(route: Route, registry: SchemaRegistry) -> JsonObject:
    success: JsonObject = {"description": HTTPStatus(route.status).phrase}
    if route.response is not None:
        success["content"] = {
            "application/json": {"schema": _response_schema(route.response, registry)}
        }
    if route.conditional and route.method == "GET":
        success["headers"] = {"ETag": {"schema": {"type": "string"}}}
    if route.long_running:
        success["headers"] = {"Location": {"schema": {"type": "string"}}}
    operation: JsonObject = {
        "operationId": route.audit_action,
        "summary": route.summary or route.audit_action,
        "tags": [route.audit_action.split(".")[0]],
        "parameters": _parameters(route),
        "responses": {str(int(route.status)): success, **_problem_responses(route, registry)},
        "security": _SECURITY,
    }
    if route.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": type_schema(route.body, registry)}},
        }
    return operation


def _operational(registry: SchemaRegistry) -> JsonObject:
    def plain(summary: str, content: JsonObject) -> JsonObject:
        return {
            "get": {
                "operationId": summary.lower().replace(" ", "-"),
                "summary": summary,
                "tags": ["server"],
                "security": [],
                "responses": {"200": {"description": "OK", "content": content}},
            }
        }

    version = {
        "type": "object",
        "properties": {
            "version": {"type": "string"},
            "server_id": {"type": "string"},
            "started_at": {"type": "string"},
        },
        "required": ["version", "server_id", "started_at"],
    }
    return {
        "/healthz": plain("Liveness", {"application/json": {"schema": registry.ref(Health)}}),
        "/version": plain("Server version", {"application/json": {"schema": version}}),
        "/metrics": plain("Prometheus metrics", {"text/plain": {"schema": {"type": "string"}}}),
        "/openapi.json": plain(
            "This document", {"application/json": {"schema": {"type": "object"}}}
        ),
        "/docs": plain("API documentation page", {"text/html": {"schema": {"type": "string"}}}),
    }


def build_openapi(routes: Iterable[Route], version: str) -> JsonObject:
    """Return the OpenAPI 3.1 document for `routes` and the operational endpoints."""
    registry = SchemaRegistry()
    paths: JsonObject = _operational(registry)
    for route in routes:
        paths.setdefault(route.pattern, {})[route.method.lower()] = _operation(route, registry)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "The Cloud API",
            "version": version,
            "description": (
                "REST API of The Cloud's control plane. Every `/v1` route needs an API key "
                "(`Authorization: Bearer <key>` or `X-API-Key`). Errors are RFC 9457 problem "
                "documents. Resources with a version send it as a strong ETag; PUT, PATCH and "
                "DELETE on them honour `If-Match` (412 on mismatch; If-Match is optional). "
                "POST honours `Idempotency-Key`. Long-running changes answer 202 with an "
                "operation (`Location`), polled or awaited at `/v1/operations/{id}?wait=N`."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": registry.components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
    }
