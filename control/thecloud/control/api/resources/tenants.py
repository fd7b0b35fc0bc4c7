"""Tenants and their quotas.

System admins (admins of the system tenant, the first one bootstrapped) create tenants, list
them all and set any tenant's quotas. Anyone else sees only their own tenant and its quotas, with
the `tenant` and `quota` read permissions; a tenant not their own is 404 as everywhere.

Creating a tenant also creates its admin service account and that account's first API key,
returned once, because nobody else could ever act in the new tenant; all of it, and the audit
entry, in one commit (iam/tenant_setup.py). A system admin's changes to another tenant (its
creation, its quotas) are audited in that tenant's log.
"""

from __future__ import annotations

import dataclasses
from http import HTTPStatus

from thecloud.control.api.call import Call
from thecloud.control.api.openapi import LIST_QUERY
from thecloud.control.api.resources.paging import page_after_str, page_limit
from thecloud.control.api.responses import etag, json_response, listing, record, versioned
from thecloud.control.api.router import ListOf, Route, Versioned
from thecloud.control.app import Response
from thecloud.control.iam import Action, PermissionDeniedError, Tenant
from thecloud.control.iam.directory import new_tenant_id
from thecloud.control.iam.quotas import QuotaLimits
from thecloud.control.models.requests import CreateNamed, PutQuotas
from thecloud.control.models.responses import Quotas, TenantCreated

__all__ = ["ROUTES"]


async def _require_system_admin(call: Call, what: str) -> None:
    if not await call.services.authorizer.is_system_admin(call.principal):
        raise PermissionDeniedError(f"only system admins may {what}")


async def _list(call: Call) -> Response:
    if not await call.services.authorizer.is_system_admin(call.principal):
        await call.authorize(Action.READ, "tenant")
        own = await call.services.directory.tenants.get(call.principal.tenant_id)
        return listing([record(own)], None)
    name = "tenants"
    tenants, after = await call.services.directory.tenants.list(
        limit=page_limit(call), start_after=page_after_str(call, name)
    )
    return listing([record(t) for t in tenants], call.pages.issue(name, after))


async def _create(call: Call) -> Response:
    call.audit_resource = "tenants"
    await _require_system_admin(call, "create tenants")
    body = call.body(CreateNamed)
    tenant_id = new_tenant_id()
    # The new tenant's log starts with its creation (a system admin acting on another tenant).
    call.audit_resource = f"tenants/{tenant_id}"
    call.audit_tenant_id = tenant_id
    try:
        made = await call.services.tenant_setup.create(
            body.name, key_name="initial", tenant_id=tenant_id
        )
    except Exception:
        # Nothing was made: the failure belongs in the caller's log, not a tenant that never was.
        call.audit_resource = "tenants"
        call.audit_tenant_id = call.principal.tenant_id
        raise
    document = {
        "tenant": record(made.tenant),
        "admin_service_account_id": made.admin.id,
        "admin_key": {"key": record(made.key.key), "token": made.key.token},
    }
    return json_response(document, HTTPStatus.CREATED)


async def _get(call: Call) -> Response:
    await call.authorize_in_tenant_or_system(Action.READ, "tenant")
    tenant, version = await call.services.directory.tenants.get_versioned(call.tenant_id)
    return versioned(record(tenant), version)


async def _quotas_document(call: Call) -> Response:
    limits, version = await call.services.quotas.limits(call.tenant_id)
    usage = await call.services.quotas.usage(call.tenant_id)
    document = {
        "tenant_id": call.tenant_id,
        **dataclasses.asdict(limits),
        "usage": usage,
        "version": version,
    }
    return json_response(document, headers=(etag(version),))


async def _get_quotas(call: Call) -> Response:
    await call.authorize_in_tenant_or_system(Action.READ, "quota")
    await call.services.directory.tenants.get(call.tenant_id)
    return await _quotas_document(call)


async def _put_quotas(call: Call) -> Response:
    call.audit_resource = f"tenants/{call.tenant_id}/quotas"
    await call.authorize_in_tenant_or_system(Action.READ, "quota")
    await _require_system_admin(call, "set quotas")
    body = call.body(PutQuotas)
    await call.services.directory.tenants.get(call.tenant_id)
    limits = QuotaLimits(**dataclasses.asdict(body))
    await call.services.quotas.set_limits(call.tenant_id, limits, expect_version=call.if_match())
    return await _quotas_document(call)


_BASE = "/v1/tenants"
_ITEM = "/v1/tenants/{tenant}"

#: The routes of this group.
ROUTES = [
    Route(
        "GET",
        _BASE,
        _list,
        "tenant.list",
        summary="List tenants (every tenant for system admins, else one's own)",
        response=ListOf(Tenant),
        query=LIST_QUERY,
    ),
    Route(
        "POST",
        _BASE,
        _create,
        "tenant.create",
        summary="Create a tenant with an admin service account and key (system admins)",
        body=CreateNamed,
        response=TenantCreated,
        status=HTTPStatus.CREATED,
    ),
    Route(
        "GET",
        _ITEM,
        _get,
        "tenant.read",
        summary="Show a tenant",
        response=Versioned(Tenant),
        conditional=True,
        any_tenant=True,
    ),
    Route(
        "GET",
        f"{_ITEM}/quotas",
        _get_quotas,
        "quota.read",
        summary="Show a tenant's quotas and usage",
        response=Quotas,
        conditional=True,
        any_tenant=True,
    ),
    Route(
        "PUT",
        f"{_ITEM}/quotas",
        _put_quotas,
        "quota.update",
        summary="Set a tenant's quotas (system admins)",
        body=PutQuotas,
        response=Quotas,
        conditional=True,
        any_tenant=True,
    ),
]
