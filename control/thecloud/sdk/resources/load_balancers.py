"""Load balancers of a project: changes return an operation to wait on; stats are live.

A change (create, update, delete) answers at once with an `Operation`; the reconciler then
starts, reconfigures or stops the engine, and the operation ends when it has. `if_match` takes
the load balancer's `version` to refuse a change based on a stale read (412).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, Final

from thecloud.control.models.requests import CreateLoadBalancer, UpdateLoadBalancer
from thecloud.sdk.errors import NotConfiguredError
from thecloud.sdk.models import LoadBalancer, LoadBalancerStats, Operation, as_document, read
from thecloud.sdk.resources.base import IfMatch, Resource, TenantScope, if_match_header
from thecloud.sdk.transport import Transport

__all__ = ["LoadBalancers"]

_NO_PROJECT: Final = (
    "no project: pass one, or set THECLOUD_PROJECT or project in the config file "
    "(`thecloud project list` shows the ids)"
)


class LoadBalancers(Resource):
    """The load balancers of a project (the client's `project` unless one is passed)."""

    def __init__(self, transport: Transport, scope: TenantScope, project: str | None) -> None:
        super().__init__(transport, scope)
        self._project = project

    async def _lbs(self, project: str | None, *parts: str) -> str:
        chosen = project or self._project
        if not chosen:
            raise NotConfiguredError(_NO_PROJECT)
        return await self._path("projects", chosen, "load-balancers", *parts)

    async def create(
        self, name: str, config: Mapping[str, Any], *, project: str | None = None
    ) -> Operation:
        """Ask for a load balancer; the operation ends once it serves (or failed to)."""
        body = as_document(CreateLoadBalancer(name, dict(config)))
        document = await self._transport.request("POST", await self._lbs(project), body=body)
        return read(Operation, document)

    async def list(
        self, *, project: str | None = None, page_size: int | None = None
    ) -> AsyncIterator[LoadBalancer]:
        """Yield the project's load balancers with their status."""
        params = {} if page_size is None else {"limit": page_size}
        async for item in self._transport.pages(await self._lbs(project), params):
            yield read(LoadBalancer, item)

    async def get(self, lb_id: str, *, project: str | None = None) -> LoadBalancer:
        """Return one load balancer: its configuration, status and version."""
        path = await self._lbs(project, lb_id)
        return read(LoadBalancer, await self._transport.request("GET", path))

    async def update(
        self,
        lb_id: str,
        config: Mapping[str, Any],
        *,
        project: str | None = None,
        if_match: IfMatch = None,
    ) -> Operation:
        """Replace the configuration; the operation ends once the engine runs it."""
        body = as_document(UpdateLoadBalancer(dict(config)))
        path = await self._lbs(project, lb_id)
        document = await self._transport.request(
            "PUT", path, body=body, headers=if_match_header(if_match)
        )
        return read(Operation, document)

    async def delete(
        self, lb_id: str, *, project: str | None = None, if_match: IfMatch = None
    ) -> Operation:
        """Remove a load balancer; the operation ends once its engine has stopped."""
        path = await self._lbs(project, lb_id)
        document = await self._transport.request("DELETE", path, headers=if_match_header(if_match))
        return read(Operation, document)

    async def stats(self, lb_id: str, *, project: str | None = None) -> LoadBalancerStats:
        """Return the live counters of a running load balancer."""
        path = await self._lbs(project, lb_id, "stats")
        return read(LoadBalancerStats, await self._transport.request("GET", path))
