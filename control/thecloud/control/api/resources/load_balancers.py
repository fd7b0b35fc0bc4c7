"""Load balancers of a project: create, list, show, reconfigure, delete, and live stats.

Changes answer 202 with an operation (and its Location) that completes once the reconciler has
started, updated or stopped the engine. A load balancer's version is its ETag; PUT and DELETE
honour If-Match. Creating counts against the tenant's `load_balancers` quota.
"""

from __future__ import annotations

from http import HTTPStatus

from thecloud.control.api.call import Call
from thecloud.control.api.openapi import LIST_QUERY
from thecloud.control.api.resources.operations import operation_response
from thecloud.control.api.resources.paging import page_after_str, page_limit
from thecloud.control.api.responses import etag, json_response, listing
from thecloud.control.api.router import ListOf, Route
from thecloud.control.app import Response
from thecloud.control.iam import Action
from thecloud.control.models.requests import CreateLoadBalancer, UpdateLoadBalancer
from thecloud.control.models.responses import LoadBalancer, LoadBalancerStats, Operation

__all__ = ["ROUTES"]

_TYPE = "load-balancer"


async def _project(call: Call) -> str:
    # A project of another tenant, or none at all, is simply not there.
    return (await call.services.directory.projects.get(call.tenant_id, call.params["project"])).id


async def _create(call: Call) -> Response:
    call.audit_resource = call.resource("projects", call.params["project"], "load-balancers")
    await call.authorize(Action.CREATE, _TYPE, project_id=call.params["project"])
    body = call.body(CreateLoadBalancer)
    project_id = await _project(call)
    service = call.services.load_balancers
    lb_id = service.new_id()
    call.audit_resource = call.resource("projects", project_id, "load-balancers", lb_id)
    operation = await service.create(call.tenant_id, project_id, body.name, body.config, lb_id)
    return operation_response(operation)


async def _list(call: Call) -> Response:
    await call.authorize(Action.LIST, _TYPE, project_id=call.params["project"])
    project_id = await _project(call)
    name = f"lbs:{call.tenant_id}:{project_id}"
    views, after = await call.services.load_balancers.list(
        call.tenant_id, project_id, limit=page_limit(call), start_after=page_after_str(call, name)
    )
    return listing([view.document() for view in views], call.pages.issue(name, after))


async def _get(call: Call) -> Response:
    await call.authorize(Action.READ, _TYPE, project_id=call.params["project"])
    view = await call.services.load_balancers.get(
        call.tenant_id, await _project(call), call.params["id"]
    )
    return json_response(view.document(), headers=(etag(view.version),))


async def _update(call: Call) -> Response:
    call.audit_resource = call.resource(
        "projects", call.params["project"], "load-balancers", call.params["id"]
    )
    await call.authorize(Action.UPDATE, _TYPE, project_id=call.params["project"])
    body = call.body(UpdateLoadBalancer)
    operation = await call.services.load_balancers.update(
        call.tenant_id,
        await _project(call),
        call.params["id"],
        body.config,
        expect_version=call.if_match(),
    )
    return operation_response(operation)


async def _delete(call: Call) -> Response:
    call.audit_resource = call.resource(
        "projects", call.params["project"], "load-balancers", call.params["id"]
    )
    await call.authorize(Action.DELETE, _TYPE, project_id=call.params["project"])
    operation = await call.services.load_balancers.delete(
        call.tenant_id, await _project(call), call.params["id"], expect_version=call.if_match()
    )
    return operation_response(operation)


async def _stats(call: Call) -> Response:
    await call.authorize(Action.READ, _TYPE, project_id=call.params["project"])
    service = call.services.load_balancers
    view = await service.get(call.tenant_id, await _project(call), call.params["id"])
    stats = service.stats(view.record.id)
    state = view.document()["status"]["state"]
    return json_response({"id": view.record.id, "state": state, "stats": stats or {}})


_BASE = "/v1/tenants/{tenant}/projects/{project}/load-balancers"
_ITEM = f"{_BASE}/{{id}}"

#: The routes of this group.
ROUTES = [
    Route(
        "GET",
        _BASE,
        _list,
        "load-balancer.list",
        summary="List the project's load balancers",
        response=ListOf(LoadBalancer),
        query=LIST_QUERY,
    ),
    Route(
        "POST",
        _BASE,
        _create,
        "load-balancer.create",
        summary="Create a load balancer (202: poll the operation)",
        body=CreateLoadBalancer,
        response=Operation,
        status=HTTPStatus.ACCEPTED,
        long_running=True,
    ),
    Route(
        "GET",
        _ITEM,
        _get,
        "load-balancer.read",
        summary="Show a load balancer and its status",
        response=LoadBalancer,
        conditional=True,
    ),
    Route(
        "PUT",
        _ITEM,
        _update,
        "load-balancer.update",
        summary="Replace a load balancer's configuration (202: poll the operation)",
        body=UpdateLoadBalancer,
        response=Operation,
        status=HTTPStatus.ACCEPTED,
        conditional=True,
        long_running=True,
    ),
    Route(
        "DELETE",
        _ITEM,
        _delete,
        "load-balancer.delete",
        summary="Delete a load balancer (202: poll the operation)",
        response=Operation,
        status=HTTPStatus.ACCEPTED,
        conditional=True,
        long_running=True,
    ),
    Route(
        "GET",
        f"{_ITEM}/stats",
        _stats,
        "load-balancer.stats",
        summary="Live counters of a running load balancer",
        response=LoadBalancerStats,
    ),
]
