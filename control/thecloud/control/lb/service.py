"""The load balancer resource as the API sees it: validated desired state, quotas, operations.

Every change writes the desired record, the operation that tracks it and (for creates and
deletes) the quota usage in one transaction; the reconciler then acts and finishes the
operation. Creating counts against the tenant's `load_balancers` quota at admission; the count
is given back when the reconciler has stopped the engine and removed the record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, Final, Protocol

from thecloud.control.iam.errors import PreconditionFailedError
from thecloud.control.iam.names import validate_name
from thecloud.control.iam.quotas import QuotaService
from thecloud.control.lb.engine import ConfigParser
from thecloud.control.lb.records import (
    ITEMS_PREFIX,
    LB_ID_PREFIX,
    LoadBalancerRecord,
    LoadBalancerStatus,
    item_key,
    name_key,
    status_key,
)
from thecloud.control.operations import Operation, OperationStore
from thecloud.core.clock import utc_now
from thecloud.core.errors import ConflictError, NotFoundError
from thecloud.core.ids import new_id, parse_id
from thecloud.core.state import Put, StateStore, Txn
from thecloud.core.state.scoped import list_scoped

__all__ = ["LoadBalancerService", "LoadBalancerView", "StatsSource"]

# Creates retry when a concurrent create moved the quota usage between read and commit.
_ADMIT_ATTEMPTS: Final = 5
_QUOTA: Final = "load_balancers"


class StatsSource(Protocol):
    """Where live counters come from: the reconciler running the engines."""

    def stats(self, lb_id: str) -> dict[str, Any] | None:
        """Counters of a running load balancer, None if it is not running here."""
        ...


class LoadBalancerView:
    """A load balancer as shown: desired record, its version, and its observed status."""

    __slots__ = ("record", "status", "version")

    def __init__(self, record: LoadBalancerRecord, version: int, status: LoadBalancerStatus):
        self.record = record
        self.version = version
        self.status = status

    def document(self) -> dict[str, Any]:
        """The JSON form (the `LoadBalancer` response model)."""
        r = self.record
        return {
            "id": r.id,
            "tenant_id": r.tenant_id,
            "project_id": r.project_id,
            "name": r.name,
            "config": r.config,
            "created_at": r.created_at,
            "updated_at": r.updated_at,
            "status": {
                "state": "deleting" if r.deleting else self.status.state,
                "addresses": self.status.addresses,
                "last_error": self.status.last_error,
                "observed_version": self.status.observed_version,
            },
            "version": self.version,
        }


class LoadBalancerService:
    """Creates, reads, updates and deletes load balancers' desired state."""

    def __init__(
        self,
        store: StateStore,
        quotas: QuotaService,
        operations: OperationStore,
        parse_config: Callable[[], ConfigParser],
        clock: Callable[[], str] = utc_now,
    ) -> None:
        self._store = store
        self._quotas = quotas
        self._operations = operations
        # Resolved on first use: the data plane's parser is imported only when LBs are used.
        self._parse_config = parse_config
        self._clock = clock
        self.stats_source: StatsSource | None = None

    def new_id(self) -> str:
        """Return a fresh load balancer id (to name it before it exists)."""
        return new_id(LB_ID_PREFIX)

    def validate(self, config: dict[str, Any]) -> None:
        """Raise InvalidArgumentError (naming the field) unless `config` is a valid LB config."""
        self._parse_config()(config)

    async def create(
        self, tenant_id: str, project_id: str, name: str, config: dict[str, Any], lb_id: str
    ) -> Operation:
        """Record a new load balancer and return the operation that tracks its start.

        ConflictError if the name is taken in the project; QuotaExceededError if the tenant has
        as many load balancers as its quota allows.
        """
        validate_name(name, "load balancer")
        self.validate(config)
        lb_id = parse_id(lb_id, LB_ID_PREFIX)
        now = self._clock()
        target = f"tenants/{tenant_id}/projects/{project_id}/load-balancers/{lb_id}"
        for _ in range(_ADMIT_ATTEMPTS):
            if await self._store.get(name_key(tenant_id, project_id, name)) is not None:
                raise ConflictError(f"a load balancer named {name!r} already exists")
            quota_steps = await self._quotas.admit(tenant_id, {_QUOTA: 1})
            operation, begin = self._operations.begin(tenant_id, "load-balancer.create", target)
            record = LoadBalancerRecord(
                lb_id, tenant_id, project_id, name, config, now, now, operation.id
            )
            steps = (
                Put(item_key(tenant_id, project_id, lb_id), record.encode(), expect_version=0),
                Put(name_key(tenant_id, project_id, name), lb_id.encode(), expect_version=0),
                *quota_steps,
                begin,
            )
            try:
                await self._store.commit(Txn(steps))
            except ConflictError:
                continue
            return operation
        raise ConflictError("load balancers of this tenant are changing too fast; try again")

    async def get(self, tenant_id: str, project_id: str, lb_id: str) -> LoadBalancerView:
        """Return one load balancer; NotFoundError if absent from the project."""
        lb_id = parse_id(lb_id, LB_ID_PREFIX)
        entry = await self._store.get(item_key(tenant_id, project_id, lb_id))
        if entry is None:
            raise NotFoundError(f"load balancer {lb_id!r} does not exist in this project")
        status = await self._store.get(status_key(lb_id))
        return LoadBalancerView(
            LoadBalancerRecord.decode(entry.value),
            entry.version,
            LoadBalancerStatus.decode(None if status is None else status.value),
        )

    async def list(
        self, tenant_id: str, project_id: str, *, limit: int, start_after: str | None
    ) -> tuple[list[LoadBalancerView], str | None]:
        """Return a page of the project's load balancers and the id to continue after."""
        prefix = f"{ITEMS_PREFIX}{tenant_id}/{project_id}/"
        page = await list_scoped(self._store, prefix, limit=limit, start_after=start_after)
        views = []
        for entry in page.entries:
            record = LoadBalancerRecord.decode(entry.value)
            status = await self._store.get(status_key(record.id))
            views.append(
                LoadBalancerView(
                    record,
                    entry.version,
                    LoadBalancerStatus.decode(None if status is None else status.value),
                )
            )
        return views, None if page.next_key is None else views[-1].record.id

    async def update(
        self,
        tenant_id: str,
        project_id: str,
        lb_id: str,
        config: dict[str, Any],
        *,
        expect_version: int | None = None,
    ) -> Operation:
        """Replace the configuration; return the operation that tracks the engine's update."""
        self.validate(config)
        return await self._change(
            tenant_id, project_id, lb_id, expect_version, "load-balancer.update", config=config
        )

    async def delete(
        self, tenant_id: str, project_id: str, lb_id: str, *, expect_version: int | None = None
    ) -> Operation:
        """Mark the load balancer for removal; return the operation that tracks it."""
        return await self._change(
            tenant_id, project_id, lb_id, expect_version, "load-balancer.delete", deleting=True
        )

    def stats(self, lb_id: str) -> dict[str, Any] | None:
        """Live counters, if the load balancer runs in this process."""
        return None if self.stats_source is None else self.stats_source.stats(lb_id)

    @staticmethod
    def _target(record: LoadBalancerRecord) -> str:
        return f"tenants/{record.tenant_id}/projects/{record.project_id}/load-balancers/{record.id}"

    async def _checked(
        self, tenant_id: str, project_id: str, lb_id: str, expect_version: int | None
    ) -> LoadBalancerView:
        view = await self.get(tenant_id, project_id, lb_id)
        if view.record.deleting:
            raise ConflictError(f"load balancer {lb_id!r} is being deleted")
        if expect_version is not None and expect_version != view.version:
            raise PreconditionFailedError(
                f"load balancer {lb_id!r} is at version {view.version}, not {expect_version}"
            )
        return view

    async def _change(
        self,
        tenant_id: str,
        project_id: str,
        lb_id: str,
        expect_version: int | None,
        kind: str,
        **changes: Any,
    ) -> Operation:
        """Apply `changes` to the record and begin a `kind` operation, in one commit."""
        view = await self._checked(tenant_id, project_id, lb_id, expect_version)
        operation, begin = self._operations.begin(tenant_id, kind, self._target(view.record))
        record = replace(
            view.record, **changes, updated_at=self._clock(), operation_id=operation.id
        )
        key = item_key(record.tenant_id, record.project_id, record.id)
        try:
            await self._store.commit(
                Txn((Put(key, record.encode(), expect_version=view.version), begin))
            )
        except ConflictError:
            raise PreconditionFailedError(
                f"load balancer {record.id!r} changed meanwhile; read it again"
            ) from None
        return operation
