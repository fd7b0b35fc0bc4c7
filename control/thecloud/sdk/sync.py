"""`Client`: the same resources as `AsyncClient`, as blocking calls and plain iterators.

The sync client owns a private event loop (`asyncio.Runner`) and runs the async client on it,
so both share one implementation. It cannot be used from inside a running event loop: use
`AsyncClient` there.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Concatenate, Final, Generic, ParamSpec, TypeVar

import httpx

from thecloud.sdk.client import AsyncClient
from thecloud.sdk.config import ClientConfig
from thecloud.sdk.resources.audit import Audit
from thecloud.sdk.resources.directory import Projects, ServiceAccounts, Users
from thecloud.sdk.resources.keys import Keys
from thecloud.sdk.resources.load_balancers import LoadBalancers
from thecloud.sdk.resources.operations import Operations
from thecloud.sdk.resources.role_bindings import RoleBindings
from thecloud.sdk.resources.roles import Roles
from thecloud.sdk.resources.secrets import Secrets
from thecloud.sdk.resources.tenants import Tenants
from thecloud.sdk.transport import DEFAULT_TIMEOUT

__all__ = ["Client", "blocking", "iterating"]

P = ParamSpec("P")
T = TypeVar("T")
A = TypeVar("A")
_END: Final = object()


class SyncResource(Generic[A]):
    """A blocking view of one async resource object, run on the client's loop."""

    def __init__(self, target: A, runner: asyncio.Runner) -> None:
        self._target = target
        self._runner = runner


class blocking(Generic[P, T]):  # noqa: N801 - used like a function, as `property` is
    """Declares a blocking method that runs the async method of the same name."""

    def __init__(self, method: Callable[Concatenate[Any, P], Coroutine[Any, Any, T]]) -> None:
        self._name = method.__name__
        self.__doc__ = method.__doc__

    def __get__(self, view: SyncResource[Any], owner: type | None = None) -> Callable[P, T]:
        bound = getattr(view._target, self._name)

        def call(*args: P.args, **kwargs: P.kwargs) -> T:
            result: T = view._runner.run(bound(*args, **kwargs))
            return result

        return call


async def _next(iterator: AsyncIterator[T]) -> T | object:
    # A sentinel, not StopAsyncIteration: exceptions of that kind should not cross run().
    return await anext(iterator, _END)


def _drain(runner: asyncio.Runner, iterator: AsyncIterator[T]) -> Iterator[T]:
    while True:
        item = runner.run(_next(iterator))
        if item is _END:
            return
        yield item  # type: ignore[misc]


class iterating(Generic[P, T]):  # noqa: N801 - used like a function, as `property` is
    """Declares a method returning an iterator over the async iterator of the same name."""

    def __init__(self, method: Callable[Concatenate[Any, P], AsyncIterator[T]]) -> None:
        self._name = method.__name__
        self.__doc__ = method.__doc__

    def __get__(
        self, view: SyncResource[Any], owner: type | None = None
    ) -> Callable[P, Iterator[T]]:
        bound = getattr(view._target, self._name)

        def call(*args: P.args, **kwargs: P.kwargs) -> Iterator[T]:
            return _drain(view._runner, bound(*args, **kwargs))

        return call


class SyncProjects(SyncResource[Projects]):
    """The tenant's projects."""

    create = blocking(Projects.create)
    get = blocking(Projects.get)
    list = iterating(Projects.list)
    delete = blocking(Projects.delete)


class SyncUsers(SyncResource[Users]):
    """The tenant's users."""

    create = blocking(Users.create)
    get = blocking(Users.get)
    list = iterating(Users.list)
    delete = blocking(Users.delete)


class SyncTenants(SyncResource[Tenants]):
    """Tenants and their quotas."""

    list = iterating(Tenants.list)
    get = blocking(Tenants.get)
    create = blocking(Tenants.create)
    quotas = blocking(Tenants.quotas)
    set_quotas = blocking(Tenants.set_quotas)


class SyncServiceAccounts(SyncResource[ServiceAccounts]):
    """The tenant's service accounts."""

    create = blocking(ServiceAccounts.create)
    get = blocking(ServiceAccounts.get)
    list = iterating(ServiceAccounts.list)
    delete = blocking(ServiceAccounts.delete)


class SyncKeys(SyncResource[Keys]):
    """The tenant's API keys."""

    create = blocking(Keys.create)
    list = iterating(Keys.list)
    rotate = blocking(Keys.rotate)
    revoke = blocking(Keys.revoke)


class SyncRoles(SyncResource[Roles]):
    """The tenant's roles."""

    create = blocking(Roles.create)
    list = iterating(Roles.list)
    get = blocking(Roles.get)
    delete = blocking(Roles.delete)


class SyncRoleBindings(SyncResource[RoleBindings]):
    """The tenant's role bindings."""

    grant = blocking(RoleBindings.grant)
    list = iterating(RoleBindings.list)
    revoke = blocking(RoleBindings.revoke)


class SyncSecrets(SyncResource[Secrets]):
    """The tenant's secrets."""

    put = blocking(Secrets.put)
    get = blocking(Secrets.get)
    list = iterating(Secrets.list)
    versions = iterating(Secrets.versions)
    delete = blocking(Secrets.delete)


class SyncAudit(SyncResource[Audit]):
    """The tenant's audit log."""

    list = iterating(Audit.list)
    verify = blocking(Audit.verify)


class SyncOperations(SyncResource[Operations]):
    """The caller's long-running operations."""

    get = blocking(Operations.get)
    wait = blocking(Operations.wait)


class SyncLoadBalancers(SyncResource[LoadBalancers]):
    """The load balancers of a project."""

    create = blocking(LoadBalancers.create)
    list = iterating(LoadBalancers.list)
    get = blocking(LoadBalancers.get)
    update = blocking(LoadBalancers.update)
    delete = blocking(LoadBalancers.delete)
    stats = blocking(LoadBalancers.stats)


class Client:
    """The blocking client; same arguments as `AsyncClient`. Use it as `with Client() as c:`."""

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
        self._runner = asyncio.Runner()
        self._client = AsyncClient(
            api_url,
            api_key,
            tenant=tenant,
            project=project,
            config=config,
            config_file=config_file,
            timeout=timeout,
            http_transport=http_transport,
        )
        self.config = self._client.config
        """The settings in use."""
        client, runner = self._client, self._runner
        self.tenants = SyncTenants(client.tenants, runner)
        self.projects = SyncProjects(client.projects, runner)
        self.users = SyncUsers(client.users, runner)
        self.service_accounts = SyncServiceAccounts(client.service_accounts, runner)
        self.keys = SyncKeys(client.keys, runner)
        self.roles = SyncRoles(client.roles, runner)
        self.role_bindings = SyncRoleBindings(client.role_bindings, runner)
        self.secrets = SyncSecrets(client.secrets, runner)
        self.audit = SyncAudit(client.audit, runner)
        self.operations = SyncOperations(client.operations, runner)
        self.load_balancers = SyncLoadBalancers(client.load_balancers, runner)

    def __repr__(self) -> str:
        return f"Client({self.config.api_url!r}, tenant={self.config.tenant!r})"

    def close(self) -> None:
        """Close the connections and the private event loop."""
        try:
            self._runner.run(self._client.aclose())
        finally:
            self._runner.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
