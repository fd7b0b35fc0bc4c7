"""Projects, users and service accounts: list, create, get and delete, the same way for all three.

A record's version is its ETag; DELETE honours If-Match.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Protocol

from thecloud.control.api.call import Call
from thecloud.control.api.openapi import LIST_QUERY
from thecloud.control.api.resources.paging import page_after_str, page_limit
from thecloud.control.api.responses import (
    json_response,
    listing,
    record,
    versioned,
    versioned_record,
)
from thecloud.control.api.router import ListOf, Route, Versioned
from thecloud.control.app import Response
from thecloud.control.iam import Action, Project, ServiceAccount, User
from thecloud.control.models.requests import CreateNamed
from thecloud.control.models.responses import Deleted

__all__ = ["ROUTES"]


class _Repository(Protocol):
    """What the routes use of the project, user and service-account repositories."""

    def new_id(self) -> str:
        """Return a fresh id for a new record."""
        ...

    async def create(self, tenant_id: str, name: str, *, record_id: str | None = None) -> Any:
        """Create a record called `name`."""
        ...

    async def get_versioned(self, tenant_id: str, record_id: str) -> tuple[Any, int]:
        """Return one record and its version."""
        ...

    async def list(
        self, tenant_id: str, *, limit: int, start_after: str | None = None
    ) -> tuple[list[Any], str | None]:
        """Return a page of records."""
        ...

    async def delete(
        self, tenant_id: str, record_id: str, *, expect_version: int | None = None
    ) -> None:
        """Delete one record."""
        ...


@dataclass(frozen=True, slots=True)
class _Group:
    """One collection: its path segment, IAM resource type, model and repository."""

    segment: str
    resource_type: str
    model: type
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
        body = call.body(CreateNamed)
        repository = self.repository(call)
        # Named before it exists, so the audit entry committed with it names it.
        record_id = repository.new_id()
        call.audit_resource = call.resource(self.segment, record_id)
        created = await repository.create(call.tenant_id, body.name, record_id=record_id)
        return versioned(record(created), 1, HTTPStatus.CREATED)

    async def get_record(self, call: Call) -> Response:
        """GET one record."""
        await call.authorize(Action.READ, self.resource_type, project_id=self._project(call))
        found, version = await self.repository(call).get_versioned(
            call.tenant_id, call.params["id"]
        )
        return versioned_record(found, version)

    async def delete_record(self, call: Call) -> Response:
        """DELETE one record."""
        call.audit_resource = call.resource(self.segment, call.params["id"])
        await call.authorize(Action.DELETE, self.resource_type, project_id=self._project(call))
        await self.repository(call).delete(
            call.tenant_id, call.params["id"], expect_version=call.if_match()
        )
        # 200 with a body rather than 204: every response then has the same framing.
        return json_response({"id": call.params["id"], "deleted": True})

    def routes(self) -> list[Route]:
        """Return the four routes of this collection."""
        base = f"/v1/tenants/{{tenant}}/{self.segment}"
        item = f"{base}/{{id}}"
        what = self.resource_type.replace("-", " ")
        return [
            Route(
                "GET",
                base,
                self.list_records,
                f"{self.resource_type}.list",
                summary=f"List the tenant's {what}s",
                response=ListOf(self.model),
                query=LIST_QUERY,
            ),
            Route(
                "POST",
                base,
                self.create_record,
                f"{self.resource_type}.create",
                summary=f"Create a {what}",
                body=CreateNamed,
                response=Versioned(self.model),
                status=HTTPStatus.CREATED,
            ),
            Route(
                "GET",
                item,
                self.get_record,
                f"{self.resource_type}.read",
                summary=f"Show a {what}",
                response=Versioned(self.model),
                conditional=True,
            ),
            Route(
                "DELETE",
                item,
                self.delete_record,
                f"{self.resource_type}.delete",
                summary=f"Delete a {what}",
                response=Deleted,
                conditional=True,
            ),
        ]


_PROJECTS = _Group(
    "projects", "project", Project, lambda call: call.services.directory.projects, True
)
_USERS = _Group("users", "user", User, lambda call: call.services.directory.users, False)
_SERVICE_ACCOUNTS = _Group(
    "service-accounts",
    "service-account",
    ServiceAccount,
    lambda call: call.services.directory.service_accounts,
    False,
)

#: The routes of this group.
ROUTES = [*_PROJECTS.routes(), *_USERS.routes(), *_SERVICE_ACCOUNTS.routes()]
