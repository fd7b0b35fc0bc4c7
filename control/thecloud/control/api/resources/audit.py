"""The audit log: a tenant's entries, filtered and paged, and verification of the chain."""

from __future__ import annotations

from thecloud.control.api.call import Call
from thecloud.control.api.openapi import LIST_QUERY
from thecloud.control.api.resources.paging import page_after_int, page_limit
from thecloud.control.api.responses import json_response, listing, record
from thecloud.control.api.router import ListOf, QueryParam, Route
from thecloud.control.app import Response
from thecloud.control.iam import Action, AuditEntry
from thecloud.control.models.responses import AuditVerdict

__all__ = ["ROUTES"]

_TYPE = "audit"
_TIME = {"type": "string", "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"}


async def _query(call: Call) -> Response:
    # System admins may read any tenant's log: their changes to a tenant are recorded there.
    await call.authorize_in_tenant_or_system(Action.LIST, _TYPE)
    query = call.request.query
    name = f"audit:{call.tenant_id}"
    page = await call.services.audit.query(
        tenant_id=call.tenant_id,
        principal_id=query.get("principal_id"),
        since=query.get("since"),
        until=query.get("until"),
        limit=page_limit(call),
        after_sequence=page_after_int(call, name),
    )
    return listing(
        [record(entry) for entry in page.entries], call.pages.issue(name, page.next_after)
    )


async def _verify(call: Call) -> Response:
    await call.authorize(Action.READ, _TYPE)
    # The chain spans every tenant, so only the verdict and the sequence number are shown.
    first_bad = await call.services.audit.verify()
    return json_response({"intact": first_bad is None, "first_bad_sequence": first_bad})


_BASE = "/v1/tenants/{tenant}/audit"

#: The routes of this group.
ROUTES = [
    Route(
        "GET",
        _BASE,
        _query,
        "audit.list",
        summary="Query the tenant's audit entries (any tenant's, for system admins)",
        response=ListOf(AuditEntry),
        any_tenant=True,
        query=(
            *LIST_QUERY,
            QueryParam("principal_id", {"type": "string"}, "Only this principal's entries."),
            QueryParam("since", _TIME, "Entries at or after this time."),
            QueryParam("until", _TIME, "Entries before this time."),
        ),
    ),
    Route(
        "GET",
        f"{_BASE}/verify",
        _verify,
        "audit.verify",
        summary="Verify the audit hash chain",
        response=AuditVerdict,
    ),
]
