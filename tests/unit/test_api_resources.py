"""Users, tenants, quotas, versions (ETag/If-Match), role and secret deletion, OpenAPI and docs."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from thecloud.control.api import V1Api, build_iam_services, load_keys
from thecloud.control.app import create_app
from thecloud.control.bootstrap import bootstrap
from thecloud.control.iam.auth_cache import IamGeneration
from thecloud.core.config import Settings
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


@dataclass
class World:
    """The system tenant's admin, a client, and the state directory."""

    client: httpx.AsyncClient
    tenant: str
    admin: dict[str, str]
    store: LmdbStateStore
    generation: IamGeneration


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    made = await bootstrap(tmp_path, "root")
    server_key, master_key = load_keys(tmp_path)
    async with await LmdbStateStore.open(tmp_path / "store.lmdb") as store:
        iam = build_iam_services(store, server_key, master_key)
        app = create_app(
            Settings(state_dir=tmp_path), IDENTITY, lambda a: (b"", "text/plain"), V1Api(iam)
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            admin = {"Authorization": f"Bearer {made.token}"}
            yield World(client, made.tenant_id, admin, store, iam.generation)


def problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    document: dict[str, object] = response.json()
    return document


async def test_openapi_and_docs_need_no_key_and_list_every_route(world: World) -> None:
    document = (await world.client.get("/openapi.json")).json()
    assert document["openapi"] == "3.1.0"
    paths = document["paths"]
    assert "post" in paths["/v1/tenants/{tenant}/users"]
    assert "delete" in paths["/v1/tenants/{tenant}/secrets/{name}"]
    body = paths["/v1/tenants/{tenant}/keys"]["post"]["requestBody"]["content"]
    assert body["application/json"]["schema"]["$ref"].endswith("/CreateKey")
    assert document["components"]["schemas"]["CreateKey"]["additionalProperties"] is False
    operations = [op for methods in paths.values() for op in methods.values()]
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids))
    assert all(op["summary"] and op["responses"] for op in operations)
    created = paths["/v1/tenants/{tenant}/projects/{project}/load-balancers"]["post"]
    assert "202" in created["responses"]
    assert "Location" in created["responses"]["202"]["headers"]
    page = await world.client.get("/docs")
    assert page.headers["content-type"].startswith("text/html")
    assert "/v1/tenants/{tenant}/keys" in page.text
    assert "<script" not in page.text


async def test_etag_and_if_match_guard_deletes(world: World) -> None:
    base = f"/v1/tenants/{world.tenant}/projects"
    created = await world.client.post(base, json={"name": "web"}, headers=world.admin)
    assert created.status_code == 201
    assert created.json()["version"] == 1
    item = f"{base}/{created.json()['id']}"
    got = await world.client.get(item, headers=world.admin)
    assert got.headers["etag"] == '"1"'
    stale = await world.client.delete(item, headers={**world.admin, "If-Match": '"7"'})
    problem(stale, 412)
    assert (await world.client.get(item, headers=world.admin)).status_code == 200
    problem(await world.client.delete(item, headers={**world.admin, "If-Match": "a, b"}), 400)
    done = await world.client.delete(item, headers={**world.admin, "If-Match": '"1"'})
    assert done.status_code == 200


async def test_users_hold_keys_that_die_with_them(world: World) -> None:
    base = f"/v1/tenants/{world.tenant}"
    user = await world.client.post(f"{base}/users", json={"name": "ada"}, headers=world.admin)
    assert user.status_code == 201
    user_id = user.json()["id"]
    grant = {"principal_kind": "user", "principal_id": user_id, "role": "reader"}
    assert (
        await world.client.post(f"{base}/role-bindings", json=grant, headers=world.admin)
    ).status_code == 201
    key = await world.client.post(
        f"{base}/keys",
        json={"principal_kind": "user", "principal_id": user_id, "name": "laptop"},
        headers=world.admin,
    )
    token = {"X-API-Key": key.json()["token"]}
    listed = await world.client.get(f"{base}/users", headers=token)
    assert [u["name"] for u in listed.json()["items"]] == ["ada"]
    deleted = await world.client.delete(f"{base}/users/{user_id}", headers=world.admin)
    assert deleted.status_code == 200
    problem(await world.client.get(f"{base}/users", headers=token), 401)


async def test_system_admin_creates_tenants_and_sets_quotas(world: World) -> None:
    made = await world.client.post("/v1/tenants", json={"name": "beta"}, headers=world.admin)
    assert made.status_code == 201, made.text
    beta = made.json()["tenant"]["id"]
    beta_admin = {"Authorization": f"Bearer {made.json()['admin_key']['token']}"}
    listed = await world.client.get("/v1/tenants", headers=world.admin)
    assert {t["name"] for t in listed.json()["items"]} == {"root", "beta"}
    own = await world.client.get("/v1/tenants", headers=beta_admin)
    assert [t["name"] for t in own.json()["items"]] == ["beta"]
    problem(await world.client.post("/v1/tenants", json={"name": "x"}, headers=beta_admin), 403)
    problem(await world.client.get(f"/v1/tenants/{world.tenant}", headers=beta_admin), 404)
    assert (await world.client.get(f"/v1/tenants/{beta}", headers=world.admin)).status_code == 200

    quotas = f"/v1/tenants/{beta}/quotas"
    before = await world.client.get(quotas, headers=beta_admin)
    assert before.json()["version"] == 0
    assert before.json()["usage"]["load_balancers"] == 0
    limits = {
        "instances": 1,
        "vcpus": 2,
        "memory_mib": 1024,
        "volume_gib": 10,
        "load_balancers": 0,
    }
    problem(await world.client.put(quotas, json=limits, headers=beta_admin), 403)
    problem(
        await world.client.put(quotas, json=limits, headers={**world.admin, "If-Match": '"3"'}),
        412,
    )
    problem(await world.client.put(quotas, json={**limits, "vcpus": -1}, headers=world.admin), 400)
    put = await world.client.put(quotas, json=limits, headers=world.admin)
    assert put.status_code == 200, put.text
    assert put.json()["load_balancers"] == 0
    assert put.headers["etag"] == '"1"'


async def test_system_admin_changes_to_a_tenant_are_audited_in_its_log(world: World) -> None:
    made = await world.client.post("/v1/tenants", json={"name": "beta"}, headers=world.admin)
    beta = made.json()["tenant"]["id"]
    beta_admin = {"Authorization": f"Bearer {made.json()['admin_key']['token']}"}
    limits = {"instances": 1, "vcpus": 2, "memory_mib": 1, "volume_gib": 1, "load_balancers": 1}
    stale = {**world.admin, "If-Match": '"7"'}
    problem(await world.client.put(f"/v1/tenants/{beta}/quotas", json=limits, headers=stale), 412)
    put = await world.client.put(f"/v1/tenants/{beta}/quotas", json=limits, headers=world.admin)
    assert put.status_code == 200, put.text

    async def log(tenant: str, headers: dict[str, str]) -> list[tuple[str, str, str]]:
        got = await world.client.get(f"/v1/tenants/{tenant}/audit", headers=headers)
        assert got.status_code == 200, got.text
        return [(e["action"], e["resource"], e["result"]) for e in got.json()["items"]]

    # Beta's own log holds every change made to beta, whoever made it; the system admin reads it.
    changes = [
        ("tenant.create", f"tenants/{beta}", "success"),
        ("quota.update", f"tenants/{beta}/quotas", "failure"),
        ("quota.update", f"tenants/{beta}/quotas", "success"),
    ]
    assert await log(beta, beta_admin) == changes
    assert await log(beta, world.admin) == changes
    root = await log(world.tenant, world.admin)
    assert not [entry for entry in root if beta in entry[1]]
    # A tenant that could not be made has no log: that failure stays in the caller's.
    again = await world.client.post("/v1/tenants", json={"name": "beta"}, headers=world.admin)
    problem(again, 409)
    assert (await log(world.tenant, world.admin))[-1] == ("tenant.create", "tenants", "failure")
    nowhere = "/v1/tenants/tnt-01jd8x3m5q7k2n4p6r8t0v2w4y/quotas"
    problem(await world.client.put(nowhere, json=limits, headers=world.admin), 404)
    assert (await log(world.tenant, world.admin))[-1] == ("quota.update", nowhere[4:], "failure")
    # Only system admins read another tenant's log.
    problem(await world.client.get(f"/v1/tenants/{world.tenant}/audit", headers=beta_admin), 404)


async def test_roles_and_secrets_can_be_deleted_and_versions_listed(world: World) -> None:
    base = f"/v1/tenants/{world.tenant}"
    role = {"name": "ops", "permissions": [{"action": "read", "resource_type": "project"}]}
    await world.client.post(f"{base}/roles", json=role, headers=world.admin)
    shown = await world.client.get(f"{base}/roles/ops", headers=world.admin)
    assert shown.headers["etag"] == '"1"'
    problem(await world.client.delete(f"{base}/roles/admin", headers=world.admin), 409)
    assert (await world.client.delete(f"{base}/roles/ops", headers=world.admin)).status_code == 200
    problem(await world.client.get(f"{base}/roles/ops", headers=world.admin), 404)

    secret = f"{base}/secrets/db"
    for value in (b"one", b"two"):
        body = {"value_base64": base64.b64encode(value).decode()}
        assert (await world.client.put(secret, json=body, headers=world.admin)).status_code == 200
    stale = {"value_base64": base64.b64encode(b"three").decode()}
    problem(
        await world.client.put(secret, json=stale, headers={**world.admin, "If-Match": '"1"'}), 412
    )
    old = await world.client.get(f"{secret}?version=1", headers=world.admin)
    assert base64.b64decode(old.json()["value_base64"]) == b"one"
    versions = await world.client.get(f"{secret}/versions", headers=world.admin)
    assert [v["version"] for v in versions.json()["items"]] == [1, 2]
    assert (await world.client.delete(secret, headers=world.admin)).status_code == 200
    problem(await world.client.get(secret, headers=world.admin), 404)
    assert not (await world.store.list("iam/secret-versions/", limit=10)).entries


async def test_bad_bodies_name_the_field(world: World) -> None:
    keys = f"/v1/tenants/{world.tenant}/keys"
    bad = {"principal_kind": "robot", "principal_id": "x", "name": "k"}
    detail = problem(await world.client.post(keys, json=bad, headers=world.admin), 400)["detail"]
    assert "principal_kind" in str(detail)
    roles = f"/v1/tenants/{world.tenant}/roles"
    nested = {"name": "r", "permissions": [{"action": "read", "resource_type": "x", "y": 1}]}
    detail = problem(await world.client.post(roles, json=nested, headers=world.admin), 400)[
        "detail"
    ]
    assert "permissions[0]" in str(detail)


async def test_revoking_a_binding_applies_to_the_next_request_despite_caching(
    world: World,
) -> None:
    base = f"/v1/tenants/{world.tenant}"
    bot = await world.client.post(
        f"{base}/service-accounts", json={"name": "bot"}, headers=world.admin
    )
    bot_id = bot.json()["id"]
    grant = {"principal_kind": "service_account", "principal_id": bot_id, "role": "reader"}
    binding = await world.client.post(f"{base}/role-bindings", json=grant, headers=world.admin)
    key = await world.client.post(
        f"{base}/keys",
        json={"principal_kind": "service_account", "principal_id": bot_id, "name": "k"},
        headers=world.admin,
    )
    token = {"X-API-Key": key.json()["token"]}
    for _ in range(3):  # fills and then uses the caches
        assert (await world.client.get(f"{base}/projects", headers=token)).status_code == 200
    revoke = f"{base}/role-bindings/{binding.json()['id']}?principal_id={bot_id}"
    assert (await world.client.delete(revoke, headers=world.admin)).status_code == 200
    problem(await world.client.get(f"{base}/projects", headers=token), 403)
    await world.client.delete(f"{base}/keys/{key.json()['key']['id']}", headers=world.admin)
    problem(await world.client.get(f"{base}/projects", headers=token), 401)


async def test_creations_keep_cached_auth_results_and_deletions_drop_them(world: World) -> None:
    base = f"/v1/tenants/{world.tenant}"
    moves = world.generation.value
    bot = await world.client.post(
        f"{base}/service-accounts", json={"name": "bot2"}, headers=world.admin
    )
    await world.client.post(f"{base}/projects", json={"name": "p2"}, headers=world.admin)
    assert world.generation.value == moves  # nothing new grants or revokes anything
    bot_id = bot.json()["id"]
    grant = {"principal_kind": "service_account", "principal_id": bot_id, "role": "reader"}
    await world.client.post(f"{base}/role-bindings", json=grant, headers=world.admin)
    assert world.generation.value > moves
    key = await world.client.post(
        f"{base}/keys",
        json={"principal_kind": "service_account", "principal_id": bot_id, "name": "k"},
        headers=world.admin,
    )
    token = {"X-API-Key": key.json()["token"]}
    assert (await world.client.get(f"{base}/projects", headers=token)).status_code == 200
    deleted = await world.client.delete(f"{base}/service-accounts/{bot_id}", headers=world.admin)
    assert deleted.status_code == 200, deleted.text
    problem(await world.client.get(f"{base}/projects", headers=token), 401)
