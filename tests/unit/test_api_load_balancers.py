"""Load balancers through the API with the reconciler running a small in-process fake engine.

The real engine is covered by tests/integration/test_serve_load_balancers.py; here the fake
records what the reconciler asked of it, so the control flow (operations, status, quotas,
deletion) is checked exactly.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from thecloud.control.api import V1Api, build_iam_services, load_keys
from thecloud.control.app import create_app
from thecloud.control.bootstrap import bootstrap
from thecloud.control.lb import LoadBalancerReconciler
from thecloud.control.operations import Operation
from thecloud.core.config import Settings
from thecloud.core.errors import InvalidArgumentError
from thecloud.core.identity import ServerIdentity
from thecloud.core.state import LmdbStateStore

pytestmark = [pytest.mark.unit, pytest.mark.anyio]

IDENTITY = ServerIdentity(
    server_id="srv-01jd8x3m5q7k2n4p6r8t0v2w4y", created_at="2024-11-27T10:00:00.000Z"
)


@pytest.fixture
def anyio_backend() -> str:
    """Run on asyncio, the loop the control plane uses."""
    return "asyncio"


def parse_config(document: dict[str, Any]) -> dict[str, Any]:
    """A stand-in validator: listeners must be a list of {"name", "port"}."""
    listeners = document.get("listeners")
    if not isinstance(listeners, list) or not listeners:
        raise InvalidArgumentError("listeners: at least one listener is required")
    for index, listener in enumerate(listeners):
        if not isinstance(listener, dict) or not isinstance(listener.get("port"), int):
            raise InvalidArgumentError(f"listeners[{index}].port: must be an integer")
    return document


@dataclass
class FakeEngine:
    """Records the calls the reconciler makes; port 1 fails to "bind"."""

    config: dict[str, Any]
    calls: list[str] = field(default_factory=list)

    def start(self) -> None:
        if any(listener["port"] == 1 for listener in self.config["listeners"]):
            raise OSError("address in use")
        self.calls.append("start")

    def update(self, config: Any) -> None:
        self.calls.append("update")
        self.config = config

    def stop(self) -> None:
        self.calls.append("stop")

    def stats(self) -> dict[str, Any]:
        return {"requests": len(self.calls)}

    def addresses(self) -> dict[str, tuple[str, int]]:
        return {item["name"]: ("127.0.0.1", item["port"]) for item in self.config["listeners"]}


@dataclass
class World:
    client: httpx.AsyncClient
    base: str
    tenant: str
    admin: dict[str, str]
    engines: list[FakeEngine]
    store: LmdbStateStore


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    made = await bootstrap(tmp_path, "root")
    server_key, master_key = load_keys(tmp_path)
    engines: list[FakeEngine] = []

    def factory(config: Any) -> FakeEngine:
        engine = FakeEngine(config)
        engines.append(engine)
        return engine

    async with await LmdbStateStore.open(tmp_path / "store.lmdb") as store:
        iam = build_iam_services(
            store, server_key, master_key, lb_config_parser=lambda: parse_config
        )
        reconciler = LoadBalancerReconciler(
            store, iam.operations, iam.quotas, lambda: factory, lambda: parse_config
        )
        iam.load_balancers.stats_source = reconciler
        task = asyncio.create_task(reconciler.run())
        app = create_app(
            Settings(state_dir=tmp_path), IDENTITY, lambda a: (b"", "text/plain"), V1Api(iam)
        )
        admin = {"Authorization": f"Bearer {made.token}"}
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                projects = f"/v1/tenants/{made.tenant_id}/projects"
                project = await client.post(projects, json={"name": "web"}, headers=admin)
                base = f"{projects}/{project.json()['id']}/load-balancers"
                yield World(client, base, made.tenant_id, admin, engines, store)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await reconciler.close()


def config(port: int) -> dict[str, Any]:
    return {"listeners": [{"name": "http", "port": port}]}


async def finished(world: World, response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 202, response.text
    location = response.headers["location"]
    assert location == f"/v1/operations/{response.json()['id']}"
    done = await world.client.get(f"{location}?wait=10", headers=world.admin)
    document: dict[str, Any] = done.json()
    assert document["status"] in ("succeeded", "failed"), document
    return document


async def test_create_update_delete_drive_the_engine(world: World) -> None:
    created = await world.client.post(
        world.base, json={"name": "front", "config": config(8080)}, headers=world.admin
    )
    operation = await finished(world, created)
    assert operation["status"] == "succeeded"
    assert operation["result"]["addresses"] == {"http": "127.0.0.1:8080"}
    lb_id = operation["target"].rsplit("/", 1)[-1]
    item = f"{world.base}/{lb_id}"
    shown = await world.client.get(item, headers=world.admin)
    assert shown.headers["etag"] == '"1"'
    assert shown.json()["status"]["state"] == "running"
    assert shown.json()["status"]["observed_version"] == 1
    stats = await world.client.get(f"{item}/stats", headers=world.admin)
    assert stats.json()["stats"] == {"requests": 1}

    stale = await world.client.put(
        item, json={"config": config(8081)}, headers={**world.admin, "If-Match": '"9"'}
    )
    assert stale.status_code == 412
    updated = await world.client.put(
        item, json={"config": config(8081)}, headers={**world.admin, "If-Match": '"1"'}
    )
    assert (await finished(world, updated))["status"] == "succeeded"
    assert world.engines[0].calls == ["start", "update"]
    assert (await world.client.get(item, headers=world.admin)).json()["status"]["addresses"] == {
        "http": "127.0.0.1:8081"
    }

    deleted = await world.client.delete(item, headers=world.admin)
    assert (await finished(world, deleted))["status"] == "succeeded"
    assert world.engines[0].calls == ["start", "update", "stop"]
    assert (await world.client.get(item, headers=world.admin)).status_code == 404
    assert not (await world.store.list("lb/", limit=10)).entries
    quotas = await world.client.get(f"/v1/tenants/{world.tenant}/quotas", headers=world.admin)
    assert quotas.json()["usage"]["load_balancers"] == 0


async def test_bad_config_is_refused_naming_the_field_and_writes_nothing(world: World) -> None:
    revision = await world.store.revision()
    bad = await world.client.post(
        world.base,
        json={"name": "front", "config": {"listeners": [{"name": "x", "port": "80"}]}},
        headers=world.admin,
    )
    assert bad.status_code == 400
    assert "listeners[0].port" in bad.json()["detail"]
    # Only the audit entry of the refusal was written.
    assert (await world.store.list("lb/", limit=10)).entries == ()
    assert await world.store.revision() == revision + 1


async def test_a_failed_start_fails_the_operation_and_reports_the_error(world: World) -> None:
    created = await world.client.post(
        world.base, json={"name": "front", "config": config(1)}, headers=world.admin
    )
    operation = await finished(world, created)
    assert operation["status"] == "failed"
    assert "address in use" in operation["error"]
    lb_id = operation["target"].rsplit("/", 1)[-1]
    shown = (await world.client.get(f"{world.base}/{lb_id}", headers=world.admin)).json()
    assert shown["status"]["state"] == "failed"
    assert "address in use" in shown["status"]["last_error"]


async def test_quota_refuses_the_create_past_the_limit_and_changes_nothing(world: World) -> None:
    limits = {"instances": 1, "vcpus": 1, "memory_mib": 1, "volume_gib": 1, "load_balancers": 1}
    quotas = f"/v1/tenants/{world.tenant}/quotas"
    assert (await world.client.put(quotas, json=limits, headers=world.admin)).status_code == 200
    first = await world.client.post(
        world.base, json={"name": "one", "config": config(8080)}, headers=world.admin
    )
    await finished(world, first)
    before = await world.store.list("lb/items/", limit=10)
    second = await world.client.post(
        world.base, json={"name": "two", "config": config(8081)}, headers=world.admin
    )
    assert second.status_code == 403
    problem = second.json()
    assert problem["type"] == "urn:thecloud:problem:quota-exceeded"
    assert problem["quota"] == "load_balancers"
    assert (problem["limit"], problem["in_use"], problem["requested"]) == (1, 1, 1)
    assert await world.store.list("lb/items/", limit=10) == before


async def test_operations_of_other_tenants_are_not_found(world: World) -> None:
    created = await world.client.post(
        world.base, json={"name": "front", "config": config(8080)}, headers=world.admin
    )
    op_id = created.json()["id"]
    other = await world.client.post("/v1/tenants", json={"name": "beta"}, headers=world.admin)
    beta = {"Authorization": f"Bearer {other.json()['admin_key']['token']}"}
    assert (await world.client.get(f"/v1/operations/{op_id}", headers=beta)).status_code == 404
    bad_wait = await world.client.get(f"/v1/operations/{op_id}?wait=-1", headers=world.admin)
    assert bad_wait.status_code == 400
    await finished(world, created)


async def test_a_repeated_create_replays_the_operation_with_its_location(world: World) -> None:
    headers = {**world.admin, "Idempotency-Key": "lb-front-1"}
    body = {"name": "front", "config": config(8080)}
    first = await world.client.post(world.base, json=body, headers=headers)
    again = await world.client.post(world.base, json=body, headers=headers)
    assert again.status_code == 202
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    await finished(world, first)
    listed = await world.client.get(world.base, headers=world.admin)
    assert [lb["name"] for lb in listed.json()["items"]] == ["front"]


async def _statuses(world: World, start_revision: int, operation_id: str) -> list[str]:
    seen: list[str] = []
    watch = world.store.watch("operations/", start_revision=start_revision)
    async with asyncio.timeout(10), contextlib.aclosing(watch) as events:
        async for event in events:
            operation = Operation.decode(event.value)
            if operation.id == operation_id:
                seen.append(operation.status)
                if operation.status.done:
                    return seen
    return seen


async def test_operations_pass_through_running_on_their_way_to_the_end(world: World) -> None:
    revision = await world.store.revision()
    created = await world.client.post(
        world.base, json={"name": "front", "config": config(8080)}, headers=world.admin
    )
    operation = await finished(world, created)
    # Each status is its own write: pending with the request, running when the reconciler
    # takes it, the end with the status it reports.
    assert await _statuses(world, revision + 1, operation["id"]) == [
        "pending",
        "running",
        "succeeded",
    ]
    revision = await world.store.revision()
    item = f"{world.base}/{operation['target'].rsplit('/', 1)[-1]}"
    deleted = await finished(world, await world.client.delete(item, headers=world.admin))
    assert await _statuses(world, revision + 1, deleted["id"]) == [
        "pending",
        "running",
        "succeeded",
    ]
