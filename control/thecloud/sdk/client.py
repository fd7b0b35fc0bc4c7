"""`AsyncClient`: the API's resources as typed async calls over one connection pool."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

import httpx

from thecloud.sdk.config import ClientConfig, load_client_config
from thecloud.sdk.resources.audit import Audit
from thecloud.sdk.resources.base import TenantScope
from thecloud.sdk.resources.directory import Projects, ServiceAccounts, Users
from thecloud.sdk.resources.keys import Keys
from thecloud.sdk.resources.load_balancers import LoadBalancers
from thecloud.sdk.resources.operations import Operations
from thecloud.sdk.resources.role_bindings import RoleBindings
from thecloud.sdk.resources.roles import Roles
from thecloud.sdk.resources.secrets import Secrets
from thecloud.sdk.resources.tenants import Tenants
from thecloud.sdk.transport import DEFAULT_TIMEOUT, Transport

__all__ = ["AsyncClient"]


class AsyncClient:
    """The API of one tenant, as one key sees it; use it as `async with AsyncClient() as c:`.

    Settings not given here come from the environment and the config file (see
    `thecloud.sdk.config`). `http_transport` replaces the network, as tests and the embedded
    mode do.
    """

    def __init__(
        self,
        api_url: str | None = None,
        api_key: str | None = None,
        *,
        tenant: str | None = None,
        project: str | None = None,
        config: ClientConfig | None = None,
        config_file: Path | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        http_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if config is None:
            config = load_client_config(
                config_file, api_url=api_url, api_key=api_key, tenant=tenant, project=project
            )
        self.config = config
        """The settings in use."""
        self._transport = Transport(
            config.api_url, config.api_key, timeout=timeout, http_transport=http_transport
        )
        scope = (self._transport, TenantScope(self._transport, config.tenant))
        self.tenants = Tenants(*scope)
        self.projects = Projects(*scope)
        self.users = Users(*scope)
        self.service_accounts = ServiceAccounts(*scope)
        self.keys = Keys(*scope)
        self.roles = Roles(*scope)
        self.role_bindings = RoleBindings(*scope)
        self.secrets = Secrets(*scope)
        self.audit = Audit(*scope)
        self.operations = Operations(*scope)
        self.load_balancers = LoadBalancers(*scope, config.project)

    def __repr__(self) -> str:
        return f"AsyncClient({self.config.api_url!r}, tenant={self.config.tenant!r})"

    async def aclose(self) -> None:
        """Close the connections."""
        await self._transport.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
