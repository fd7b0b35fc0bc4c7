"""The Cloud in-process: `async with Cloud(path) as cloud:` serves the API without a socket.

`Cloud` starts the state directory's control runtime exactly as `thecloud serve` does
(`thecloud.control.runtime`: the LMDB store, or the etcd cluster at `etcd_endpoint`, the key
files, the services, the reconciler),
builds the same `/v1` API, and hands back an `AsyncClient` whose requests go straight to
that API through `httpx.ASGITransport`. So the models, the validation, the authorization and the
audit log are exactly those of the server; only the network is missing.

Whose authority: a given API key's; without one, the tenant admin's. For the latter `Cloud`
issues a key for the tenant's `admin` service account (the one `thecloud admin bootstrap`
made) when it opens and revokes it when it closes; both steps are in the audit log.

Load balancers created here serve from this process, then. Open a state directory either
with `thecloud serve` or with one `Cloud`, not both at once: each would run its own engines for
the same load balancers.
"""

from __future__ import annotations

import os
from contextlib import AsyncExitStack
from pathlib import Path
from types import TracebackType
from typing import Final

import httpx

from thecloud.control.api.services import IamServices
from thecloud.control.api.v1 import V1Api
from thecloud.control.app import Receive, Scope, Send
from thecloud.control.iam import AuditResult, PrincipalKind
from thecloud.control.iam.tenant_setup import ADMIN_ACCOUNT
from thecloud.control.runtime import ControlRuntime
from thecloud.core.errors import ConfigError, NotFoundError
from thecloud.core.ids import new_id
from thecloud.sdk.client import AsyncClient
from thecloud.sdk.config import ClientConfig

__all__ = ["Cloud"]

#: The base URL embedded requests carry; nothing listens there.
EMBEDDED_URL: Final = "http://thecloud.embedded"
_SESSION_KEY_NAME: Final = "embedded-session"


class _AsgiV1:
    """The `/v1` API as a bare ASGI application, for httpx's in-process transport."""

    def __init__(self, api: V1Api) -> None:
        self._api = api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self._api.handle(scope, receive)
        headers = [(b"content-type", response.content_type.encode("latin-1")), *response.headers]
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})


async def _tenant_id(services: IamServices, tenant: str | None) -> str:
    tenants = services.directory.tenants
    if tenant is not None:
        found = await (
            tenants.get(tenant) if tenant.startswith("tnt-") else tenants.get_by_name(tenant)
        )
        return found.id
    page, more = await tenants.list(limit=2)
    if len(page) != 1 or more is not None:
        raise ConfigError(
            "name the tenant: Cloud(path, tenant=...) (the state directory holds "
            f"{'no tenant; run `thecloud admin bootstrap`' if not page else 'several tenants'})"
        )
    return page[0].id


class Cloud:
    """The API of a state directory, in this process; see the module docstring."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        api_key: str | None = None,
        tenant: str | None = None,
        etcd_endpoint: str | None = None,
    ) -> None:
        self._path = Path(path)
        self._api_key = api_key
        self._tenant = tenant
        self._etcd_endpoint = etcd_endpoint
        self._stack: AsyncExitStack | None = None

    def __repr__(self) -> str:
        return f"Cloud({str(self._path)!r})"

    async def __aenter__(self) -> AsyncClient:
        async with AsyncExitStack() as stack:
            runtime = await ControlRuntime.start(self._path, self._etcd_endpoint)
            stack.push_async_callback(runtime.close)
            services = runtime.services
            token, tenant_id = await self._credentials(stack, services)
            config = ClientConfig(api_url=EMBEDDED_URL, api_key=token, tenant=tenant_id)
            transport = httpx.ASGITransport(app=_AsgiV1(V1Api(services)))
            client = AsyncClient(config=config, http_transport=transport)
            stack.push_async_callback(client.aclose)
            # Everything opened so far is closed by __aexit__ from here on.
            self._stack = stack.pop_all()
        return client

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()

    async def _credentials(self, stack: AsyncExitStack, services: IamServices) -> tuple[str, str]:
        if self._api_key is not None:
            principal = await services.keys.authenticate(self._api_key)
            return self._api_key, principal.tenant_id
        tenant_id = await _tenant_id(services, self._tenant)
        try:
            admin = await services.directory.service_accounts.get_by_name(tenant_id, ADMIN_ACCOUNT)
        except NotFoundError:
            raise ConfigError(
                f"tenant {tenant_id} has no {ADMIN_ACCOUNT!r} service account; pass api_key="
            ) from None
        issued = await services.keys.create(
            tenant_id, PrincipalKind.SERVICE_ACCOUNT, admin.id, _SESSION_KEY_NAME
        )
        await _record(services, admin.id, tenant_id, "key.create", issued.key.id)

        async def revoke() -> None:
            await services.keys.revoke(tenant_id, issued.key.id)
            await _record(services, admin.id, tenant_id, "key.revoke", issued.key.id)

        stack.push_async_callback(revoke)
        return issued.token, tenant_id


async def _record(
    services: IamServices, principal_id: str, tenant_id: str, action: str, key_id: str
) -> None:
    await services.audit.append(
        principal_id=principal_id,
        action=action,
        resource=f"tenants/{tenant_id}/keys/{key_id}",
        result=AuditResult.SUCCESS,
        request_id=new_id("req"),
        tenant_id=tenant_id,
    )
