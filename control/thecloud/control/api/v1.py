"""The `/v1` dispatcher: request id, body, authentication, tenant scope, idempotency, audit.

Order per request, each step refusing with a problem document:
1. read the request (400 bad query, 413 oversized body);
2. authenticate (401, generic, with `WWW-Authenticate: Bearer`);
3. route (404, 405);
4. tenant scope: a path naming another tenant is 404, so nobody learns what exists elsewhere;
5. replay a stored response for a repeated `Idempotency-Key` (POST only; 422 on a new body);
6. the handler, which authorizes (403) before it acts.
Every POST, PUT, PATCH and DELETE that got past authentication is audited with its outcome,
denied ones included; a successful change and its audit entry are one commit. Unauthenticated
requests are not: they have no principal, and logging them would let anyone grow the log.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Final

from thecloud.control.api.auth import authenticate
from thecloud.control.api.call import Call
from thecloud.control.api.documents import api_documents
from thecloud.control.api.errors import ApiError, problem_for
from thecloud.control.api.idempotency import IdempotencyStore
from thecloud.control.api.pagination import PageTokens
from thecloud.control.api.request import header_map, read_request, request_id_for
from thecloud.control.api.resources import all_routes
from thecloud.control.api.router import Match, Router
from thecloud.control.api.services import IamServices
from thecloud.control.app import Receive, Response, Scope, problem
from thecloud.control.iam import AuditResult, PermissionDeniedError
from thecloud.control.iam.audit_chain import MAX_FIELD_LENGTH
from thecloud.control.iam.audited_store import AuditScope
from thecloud.core.errors import TheCloudError

__all__ = ["V1Api"]

_MUTATIONS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})

_log = logging.getLogger(__name__)


def _with_request_id(response: Response, request_id: str) -> Response:
    header = (b"x-request-id", request_id.encode("ascii"))
    return Response(
        response.status, response.body, response.content_type, (*response.headers, header)
    )


def _result(error: BaseException | None, response: Response | None) -> AuditResult:
    if isinstance(error, PermissionDeniedError):
        return AuditResult.DENIED
    if isinstance(error, ApiError) and error.status is HTTPStatus.NOT_FOUND:
        return AuditResult.DENIED
    if error is None and response is not None and response.status < 400:
        return AuditResult.SUCCESS
    return AuditResult.FAILURE


def _printable(text: str) -> str:
    # Paths may carry any decoded character; the audit log takes printable text of bounded size.
    if text.isprintable() and 0 < len(text) <= MAX_FIELD_LENGTH:
        return text
    return "".join(c if c.isprintable() else "?" for c in text[:MAX_FIELD_LENGTH]) or "?"


class V1Api:
    """Serves `/v1` over a set of IAM services; mount it on the ControlApp."""

    def __init__(self, services: IamServices) -> None:
        self._services = services
        self._pages = PageTokens(services.server_key)
        self._idempotency = IdempotencyStore(services.store, services.master_key)
        self._router = Router(all_routes())
        self._documents = api_documents(self._router.routes)

    def __repr__(self) -> str:
        return "V1Api(<redacted>)"

    def documents(self) -> Mapping[str, Response]:
        """The OpenAPI document and its HTML rendering, by path."""
        return self._documents

    async def startup(self) -> None:
        """Nothing to start: the services were built open."""

    async def shutdown(self) -> None:
        """Nothing to stop: whoever built the services closes the store."""

    async def handle(self, scope: Scope, receive: Receive) -> Response:
        """Answer one `/v1` request; every response carries `X-Request-Id`."""
        headers = header_map(scope)
        request_id = request_id_for(headers)
        try:
            response = await self._dispatch(scope, receive, request_id, headers)
        except (ApiError, TheCloudError) as error:
            response = problem_for(error) or self._server_fault(error, request_id)
        return _with_request_id(response, request_id)

    @staticmethod
    def _server_fault(error: BaseException, request_id: str) -> Response:
        # The log gets the cause; the client gets a stable message that leaks no internals.
        _log.error("API request failed", exc_info=error, extra={"request_id": request_id})
        return problem(HTTPStatus.INTERNAL_SERVER_ERROR, "the server failed to answer; see its log")

    async def _dispatch(
        self, scope: Scope, receive: Receive, request_id: str, headers: dict[str, str]
    ) -> Response:
        request = await read_request(scope, receive, request_id, headers)
        principal = await authenticate(self._services.keys, request)
        match = self._router.match(request.method, request.path)
        call = Call(
            request=request,
            principal=principal,
            # Routes outside a tenant (operations, the tenant list) act in the caller's own.
            tenant_id=match.params.get("tenant", principal.tenant_id),
            params=match.params,
            services=self._services,
            pages=self._pages,
            audit_resource=request.path.removeprefix("/v1/"),
            audit_tenant_id=principal.tenant_id,
        )
        if request.method not in _MUTATIONS:
            self._check_tenant(call, match)
            return await match.route.handler(call)
        audit_scope = AuditScope(
            principal_id=principal.id,
            action=match.route.audit_action,
            resource=lambda: _printable(call.audit_resource),
            request_id=request.request_id,
            # The caller's own tenant unless the handler says otherwise (see Call.audit_tenant_id).
            tenant=lambda: call.audit_tenant_id,
        )
        response: Response | None = None
        failure: BaseException | None = None
        try:
            with audit_scope.active():
                response = await self._mutate(call, match)
            return response
        except (ApiError, TheCloudError) as error:
            failure = error
            raise
        finally:
            # A successful change was audited in its own commit; this records the rest.
            await audit_scope.finish(self._services.audit, _result(failure, response))

    @staticmethod
    def _check_tenant(call: Call, match: Match) -> None:
        if not match.route.any_tenant and call.tenant_id != call.principal.tenant_id:
            raise ApiError(HTTPStatus.NOT_FOUND, f"there is no resource at {call.request.path}")

    async def _mutate(self, call: Call, match: Match) -> Response:
        self._check_tenant(call, match)
        key = IdempotencyStore.key_of(call.request) if call.request.method == "POST" else None
        # Scoped to the caller's own tenant: a system admin's key must not collide elsewhere.
        tenant_id = call.principal.tenant_id
        if key is not None:
            stored = await self._idempotency.replay(tenant_id, call.principal.id, key, call.request)
            if stored is not None:
                return stored
        response = await match.route.handler(call)
        # Only successes are kept: a client fixing a rejected request may reuse its key.
        if key is not None and response.status < 300:
            await self._idempotency.remember(
                tenant_id, call.principal.id, key, call.request, response
            )
        return response
