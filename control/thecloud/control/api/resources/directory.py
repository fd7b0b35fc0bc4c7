"""Projects and service accounts: list, create, get and delete, the same way for both."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Protocol

from thecloud.control.api.body import Field, parse_body
from thecloud.control.api.call import Call
from thecloud.control.api.resources.paging import page_after_str, page_limit
from thecloud.control.api.responses import json_response, listing, record
from thecloud.control.api.router import Route
from thecloud.control.app import Response
from thecloud.control.iam import Action

__all__ = ["ROUTES"]

_CREATE_FIELDS = {"name": Field(str)}


class _Repository(Protocol):
    """What the routes use of ProjectRepository and ServiceAccountRepository."""

    async def create(self, tenant_id: str, name: str) -> Any:
        """Create a record called `name`."""
        ...

    async def get(self, tenant_id: str, record_id: str) -> Any:
        """Return one record."""
        ...

    async def list(
        self, tenant_id: str, *, limit: int, start_after: str | None = None
    ) -> tuple[list[Any], str | None]:
        """Return a page of records."""
        ...

    async def delete(self, tenant_id: str, record_id: str) -> None:
        """Delete one record."""
        ...


@dataclass(frozen=True, slots=True)
class _Group:
    """One collection: its path segment, IAM resource type and repository."""

    segment: str
    resource_type: str
    repository: Callable[[Call], _Repository]
    # Projects scope role bindings, so checks on one project name it.
    project_scoped: bool

    def _project(self, call: Call) -> str | None:
        return call.params["id"] if self.project_scoped else None

    async def list_records(self, call: Call) -> Response:
        """GET the collection."""
        await call.authorize(Action.LIST, self.resource_type)
        name = f"{self.segment}:{call.tenant_id}"
        items, after = await self.repository(call).list(
            call.tenant_id, limit=page_limit(call), start_after=page_after_str(call, name)
        )
        return listing([record(item) for item in items], call.pages.issue(name, after))

    async def create_record(self, call: Call) -> Response:
        """POST to the collection."""
        call.audit_resource = call.resource(self.segment)
        await call.authorize(Action.CREATE, self.resource_type)
        fields = parse_body(call.request.body, _CREATE_FIELDS)
        created = await self.repository(call).create(call.tenant_id, fields["name"])
        call.audit_resource = call.resource(self.segment, created.id)
        return json_response(record(created), HTTPStatus.CREATED)

    async def get_record(self, call: Call) -> Response:
        """GET one record."""
        await call.authorize(Action.READ, self.resource_type, project_id=self._project(call))
        found = await self.repository(call).get(call.tenant_id, call.params["id"])
        return json_response(record(found))

    async def delete_record(self, call: Call) -> Response:
        """DELETE one record."""
        call.audit_resource = call.resource(self.segment, call.params["id"])
        await call.authorize(Action.DELETE, self.resource_type, project_id=self._project(call))
        await self.repository(call).delete(call.tenant_id, call.params["id"])
        # 200 with a body rather than 204: every response then has the same framing.
        return json_response({"id": call.params["id"], "deleted": True})

    def routes(self) -> list[Route]:
        """Return the four routes of this collection."""
        base = f"/v1/tenants/{{tenant}}/{self.segment}"
        item = f"{base}/{{id}}"
        handlers: list[tuple[str, str, Callable[[Call], Awaitable[Response]], str]] = [
            ("GET", base, self.list_records, "list"),
            ("POST", base, self.create_record, "create"),
            ("GET", item, self.get_record, "read"),
            ("DELETE", item, self.delete_record, "delete"),
        ]
        return [
            Route(method, pattern, handler, f"{self.resource_type}.{verb}")
            for method, pattern, handler, verb in handlers
        ]


_PROJECTS = _Group("projects", "project", lambda call: call.services.directory.projects, True)
_SERVICE_ACCOUNTS = _Group(
    "service-accounts",
    "service-account",
    lambda call: call.services.directory.service_accounts,
    False,
)

#: The routes of this group.
ROUTES = [*_PROJECTS.routes(), *_SERVICE_ACCOUNTS.routes()]
