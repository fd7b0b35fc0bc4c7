"""The `/v1` API driven through ASGI with a real LMDB store: auth, tenancy, audit, validation."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from thecloud.control.api import IamServices, V1Api, build_iam_services, load_keys
from thecloud.control.api.request import MAX_BODY_BYTES
from thecloud.control.app import create_app
from thecloud.control.bootstrap import bootstrap
from thecloud.control.iam import Action, PrincipalKind
from thecloud.core.config import Settings
from thecloud.core.errors import ConflictError
from thecloud.core.identity import ServerIdentity
from thecloud.core.state import LmdbStateStore

pytestmark = [pytest.mark.unit, pytest.mark.anyio]

IDENTITY = ServerIdentity(
    server_id="srv-01jd8x3m5q7k2n4p6r8t0v2w4y", created_at="2024-11-27T10:00:00.000Z"
)
PROBLEM = "application/problem+json"


@pytest.fixture
def anyio_backend() -> str:
    """Run on asyncio, the loop the control plane uses."""
    return "asyncio"


@dataclass
class Tenant:
    """A tenant with an admin and a reader service account, and their tokens."""

    id: str
    admin_id: str
    admin: dict[str, str]
    reader: dict[str, str]


@dataclass
class World:
    """Two tenants behind one API, and a client for it."""

    store: LmdbStateStore
    iam: IamServices
    client: httpx.AsyncClient
    a: Tenant
    b: Tenant


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _tenant(iam: IamServices, name: str) -> Tenant:
    tenant = await iam.directory.tenants.create(name)
    tokens: dict[str, dict[str, str]] = {}
    ids: dict[str, str] = {}
    for role in ("admin", "reader"):
        account = await iam.directory.service_accounts.create(tenant.id, role)
        kind = PrincipalKind.SERVICE_ACCOUNT
        await iam.bindings.grant(tenant.id, kind, account.id, role)
        issued = await iam.keys.create(tenant.id, kind, account.id, "test")
        tokens[role] = bearer(issued.token)
        ids[role] = account.id
    return Tenant(tenant.id, ids["admin"], tokens["admin"], tokens["reader"])


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    server_key, master_key = load_keys(tmp_path)
    async with await LmdbStateStore.open(tmp_path / "store.lmdb") as store:
        iam = build_iam_services(store, server_key, master_key)
        app = create_app(
            Settings(state_dir=tmp_path),
            IDENTITY,
            lambda accept: (b"", "text/plain"),
            api=V1Api(iam),
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            a = await _tenant(iam, "acme")
            b = await _tenant(iam, "beta")
            yield World(store, iam, client, a, b)


def assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    document: dict[str, object] = response.json()
    assert document["status"] == status
    return document


async def test_key_files_are_private(tmp_path: Path) -> None:
    load_keys(tmp_path)
    for name in ("server.key", "master.key"):
        assert (tmp_path / "keys" / name).stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "keys").stat().st_mode & 0o777 == 0o700


async def test_project_lifecycle_and_request_ids(world: World) -> None:
    base = f"/v1/tenants/{world.a.id}/projects"
    created = await world.client.post(base, json={"name": "web"}, headers=world.a.admin)
    assert created.status_code == 201
    project = created.json()
    assert project["name"] == "web"
    assert created.headers["x-request-id"].startswith("req-")

    got = await world.client.get(
        f"{base}/{project['id']}", headers={**world.a.reader, "X-Request-Id": "trace-42"}
    )
    assert got.json() == project
    assert got.headers["x-request-id"] == "trace-42"
    insane = await world.client.get(base, headers={**world.a.reader, "X-Request-Id": "a b\tc"})
    assert insane.headers["x-request-id"].startswith("req-")

    deleted = await world.client.delete(f"{base}/{project['id']}", headers=world.a.admin)
    assert deleted.status_code == 200
    assert_problem(await world.client.get(f"{base}/{project['id']}", headers=world.a.admin), 404)


async def test_other_tenants_resources_are_not_found_never_shown(world: World) -> None:
    b_projects = f"/v1/tenants/{world.b.id}/projects"
    secret = await world.client.post(b_projects, json={"name": "hidden"}, headers=world.b.admin)
    b_project = secret.json()["id"]

    probes = [
        ("GET", f"{b_projects}/{b_project}"),
        ("GET", b_projects),
        ("DELETE", f"{b_projects}/{b_project}"),
        ("GET", f"/v1/tenants/{world.a.id}/projects/{b_project}"),
        ("DELETE", f"/v1/tenants/{world.a.id}/projects/{b_project}"),
        ("GET", f"/v1/tenants/{world.b.id}/audit"),
    ]
    for method, path in probes:
        response = await world.client.request(method, path, headers=world.a.admin)
        assert_problem(response, 404)
        assert "hidden" not in response.text

    b_keys = await world.client.get(f"/v1/tenants/{world.b.id}/keys", headers=world.b.admin)
    b_key = b_keys.json()["items"][0]["id"]
    rotate = f"/v1/tenants/{world.a.id}/keys/{b_key}/rotate"
    assert_problem(await world.client.post(rotate, headers=world.a.admin), 404)

    still = await world.client.get(f"{b_projects}/{b_project}", headers=world.b.admin)
    assert still.status_code == 200


async def test_reader_cannot_mutate_and_the_denial_is_audited(world: World) -> None:
    base = f"/v1/tenants/{world.a.id}"
    denied = await world.client.post(
        f"{base}/projects", json={"name": "nope"}, headers={**world.a.reader, "X-Request-Id": "r1"}
    )
    assert_problem(denied, 403)
    assert_problem(
        await world.client.post(
            f"{base}/service-accounts", json={"name": "x"}, headers=world.a.reader
        ),
        403,
    )
    listed = await world.client.get(f"{base}/projects", headers=world.a.reader)
    assert listed.status_code == 200
    assert listed.json()["items"] == []

    audit = await world.client.get(f"{base}/audit", headers=world.a.admin)
    entries = audit.json()["items"]
    denial = next(e for e in entries if e["request_id"] == "r1")
    assert denial["result"] == "denied"
    assert denial["action"] == "project.create"


async def test_missing_or_bad_credentials_get_a_generic_401(world: World) -> None:
    path = f"/v1/tenants/{world.a.id}/projects"
    for headers in ({}, bearer("tck_nonsense"), {"X-API-Key": "x"}, {"Authorization": "Basic x"}):
        response = await world.client.get(path, headers=headers)
        document = assert_problem(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert document["detail"] == assert_problem(await world.client.get(path), 401)["detail"]


async def test_keys_created_rotated_and_revoked_over_the_api(world: World) -> None:
    base = f"/v1/tenants/{world.a.id}/keys"
    body = {
        "principal_kind": "service_account",
        "principal_id": world.a.admin_id,
        "name": "ci",
    }
    created = await world.client.post(base, json=body, headers=world.a.admin)
    assert created.status_code == 201
    token = created.json()["token"]
    key_id = created.json()["key"]["id"]
    projects = f"/v1/tenants/{world.a.id}/projects"
    assert (await world.client.get(projects, headers={"X-API-Key": token})).status_code == 200

    listed = await world.client.get(base, headers=world.a.admin)
    assert token not in listed.text
    assert key_id in listed.text

    rotated = await world.client.post(f"{base}/{key_id}/rotate", headers=bearer(token))
    assert rotated.status_code == 200
    new_token = rotated.json()["token"]
    assert_problem(await world.client.get(projects, headers=bearer(token)), 401)
    assert (await world.client.get(projects, headers=bearer(new_token))).status_code == 200

    revoked = await world.client.delete(f"{base}/{key_id}", headers=world.a.admin)
    assert revoked.json()["revoked_at"] is not None
    assert_problem(await world.client.get(projects, headers=bearer(new_token)), 401)


async def test_audit_verify_detects_an_edited_entry(world: World) -> None:
    base = f"/v1/tenants/{world.a.id}"
    await world.client.post(f"{base}/projects", json={"name": "one"}, headers=world.a.admin)
    verify = await world.client.get(f"{base}/audit/verify", headers=world.a.admin)
    assert verify.json() == {"intact": True, "first_bad_sequence": None}

    key = "audit/entries/" + f"{1:020d}"
    entry = await world.store.get(key)
    assert entry is not None
    edited = json.loads(entry.value) | {"resource": "tenants/elsewhere"}
    await world.store.put(key, json.dumps(edited).encode())

    verify = await world.client.get(f"{base}/audit/verify", headers=world.a.admin)
    assert verify.json() == {"intact": False, "first_bad_sequence": 1}


async def test_bad_requests_are_problem_documents(world: World) -> None:
    path = f"/v1/tenants/{world.a.id}/projects"
    headers = {**world.a.admin, "Content-Type": "application/json"}
    bodies = [
        b"{not json",
        b"[1, 2]",
        b'{"name": "ok", "extra": 1}',
        b'{"name": 7}',
        b"{}",
        b'{"name": "Not A Name"}',
        b"\xff\xfe",
    ]
    for body in bodies:
        assert_problem(await world.client.post(path, content=body, headers=headers), 400)
    oversized = b'{"name": "' + b"a" * MAX_BODY_BYTES + b'"}'
    assert_problem(await world.client.post(path, content=oversized, headers=headers), 413)
    for query in ("limit=0", "limit=1001", "limit=x", "page_token=%%%", "page_token=AAAA"):
        assert_problem(await world.client.get(f"{path}?{query}", headers=headers), 400)
    assert_problem(await world.client.get(f"{path}/prj-bad", headers=headers), 400)
    assert_problem(await world.client.put(path, headers=headers), 405)
    assert_problem(
        await world.client.get(f"/v1/tenants/{world.a.id}/nothing", headers=headers), 404
    )
    roles = f"/v1/tenants/{world.a.id}/roles"
    bad_role = {"name": "ops", "permissions": [{"action": "fly", "resource_type": "volume"}]}
    assert_problem(await world.client.post(roles, json=bad_role, headers=headers), 400)
    bad_grant = {"name": "ops", "permissions": [{"action": "read", "resource_type": 1}]}
    assert_problem(await world.client.post(roles, json=bad_grant, headers=headers), 400)


async def test_pages_continue_and_tampered_tokens_fail(world: World) -> None:
    path = f"/v1/tenants/{world.a.id}/projects"
    for name in ("p1", "p2", "p3"):
        await world.client.post(path, json={"name": name}, headers=world.a.admin)
    first = (await world.client.get(f"{path}?limit=2", headers=world.a.admin)).json()
    assert len(first["items"]) == 2
    token = first["next_page_token"]
    second = await world.client.get(f"{path}?limit=2&page_token={token}", headers=world.a.admin)
    assert [p["name"] for p in second.json()["items"]] == ["p3"]
    assert second.json()["next_page_token"] is None

    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[5] ^= 1
    forged = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    assert_problem(
        await world.client.get(f"{path}?page_token={forged}", headers=world.a.admin), 400
    )
    other_list = f"/v1/tenants/{world.a.id}/service-accounts?page_token={token}"
    assert_problem(await world.client.get(other_list, headers=world.a.admin), 400)


async def test_idempotent_post_replays_the_first_response(world: World) -> None:
    path = f"/v1/tenants/{world.a.id}/projects"
    headers = {**world.a.admin, "Idempotency-Key": "create-web-1"}
    first = await world.client.post(path, json={"name": "web"}, headers=headers)
    again = await world.client.post(path, json={"name": "web"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    listed = (await world.client.get(path, headers=world.a.admin)).json()["items"]
    assert [p["name"] for p in listed] == ["web"]

    changed = await world.client.post(path, json={"name": "api"}, headers=headers)
    assert_problem(changed, 422)
    # Another principal's use of the same key is its own request, not a replay.
    reader = await world.client.post(
        path, json={"name": "web"}, headers={**world.a.reader, "Idempotency-Key": "create-web-1"}
    )
    assert_problem(reader, 403)


async def test_roles_bindings_and_secrets(world: World) -> None:
    base = f"/v1/tenants/{world.a.id}"
    role = {"name": "ops", "permissions": [{"action": "read", "resource_type": "project"}]}
    created = await world.client.post(f"{base}/roles", json=role, headers=world.a.admin)
    assert created.status_code == 201
    names = (await world.client.get(f"{base}/roles", headers=world.a.reader)).json()["items"]
    assert [r["name"] for r in names] == ["ops"]

    account = await world.client.post(
        f"{base}/service-accounts", json={"name": "bot"}, headers=world.a.admin
    )
    bot = account.json()["id"]
    grant = {"principal_kind": "service_account", "principal_id": bot, "role": "ops"}
    binding = await world.client.post(f"{base}/role-bindings", json=grant, headers=world.a.admin)
    assert binding.status_code == 201
    bindings = await world.client.get(
        f"{base}/role-bindings?principal_id={bot}", headers=world.a.admin
    )
    assert [b["role"] for b in bindings.json()["items"]] == ["ops"]
    removed = await world.client.delete(
        f"{base}/role-bindings/{binding.json()['id']}?principal_id={bot}", headers=world.a.admin
    )
    assert removed.status_code == 200

    value = base64.b64encode(b"hunter2").decode()
    put = await world.client.put(
        f"{base}/secrets/db-password", json={"value_base64": value}, headers=world.a.admin
    )
    assert put.json()["version"] == 1
    assert_problem(
        await world.client.put(
            f"{base}/secrets/db-password", json={"value_base64": value}, headers=world.a.reader
        ),
        403,
    )
    listed = await world.client.get(f"{base}/secrets", headers=world.a.admin)
    assert "hunter2" not in listed.text
    assert value not in listed.text
    assert listed.json()["items"][0]["version"] == 1
    got = await world.client.get(f"{base}/secrets/db-password", headers=world.a.admin)
    assert base64.b64decode(got.json()["value_base64"]) == b"hunter2"
    # A reader sees which secrets exist, never their values.
    assert (await world.client.get(f"{base}/secrets", headers=world.a.reader)).status_code == 200
    denied = await world.client.get(f"{base}/secrets/db-password", headers=world.a.reader)
    assert_problem(denied, 403)
    assert "hunter2" not in denied.text
    audit = await world.client.get(f"{base}/audit?limit=1000", headers=world.a.admin)
    assert value not in audit.text


async def test_bootstrap_makes_a_working_admin_once(tmp_path: Path) -> None:
    made = await bootstrap(tmp_path, "first")
    assert "token" not in repr(made)
    with pytest.raises(ConflictError):
        await bootstrap(tmp_path, "first")
    server_key, master_key = load_keys(tmp_path)
    async with await LmdbStateStore.open(tmp_path / "store.lmdb") as store:
        iam = build_iam_services(store, server_key, master_key)
        principal = await iam.keys.authenticate(made.token)
        assert principal.tenant_id == made.tenant_id
        await iam.authorizer.authorize(principal, Action.CREATE, "key", made.tenant_id)
