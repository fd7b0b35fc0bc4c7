"""`thecloud serve` and embedded `Cloud` with their state in a real etcd (`etcd_endpoint`)."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import httpx
import pytest

from tests.integration.etcd_server import running_etcd
from tests.integration.serving import bootstrap, running_server
from thecloud.sdk.embedded import Cloud

pytestmark = pytest.mark.integration


def test_state_lives_in_etcd_and_outlives_the_server(tmp_path: Path) -> None:
    (tmp_path / "etcd").mkdir()
    with running_etcd(tmp_path / "etcd") as endpoint:
        env = {"THECLOUD_ETCD_ENDPOINT": endpoint}
        state_dir = tmp_path / "state"
        tenant = bootstrap(state_dir, tmp_path, "acme", env=env)
        auth = {"Authorization": f"Bearer {tenant.token}"}
        projects = f"/v1/tenants/{tenant.id}/projects"

        with running_server(state_dir, tmp_path, "first", env=env) as server:
            made = httpx.post(f"{server.base_url}{projects}", json={"name": "web"}, headers=auth)
            assert made.status_code == 201, made.text
            assert server.stop(signal.SIGTERM) == 0
        with running_server(state_dir, tmp_path, "second", env=env) as server:
            listed = server.get(projects, **auth)

        assert listed.status_code == 200, listed.text
        assert [item["name"] for item in listed.json()["items"]] == ["web"]
        # Only the key files are local: the state itself is in etcd.
        assert not (state_dir / "store.lmdb").exists()


def test_an_embedded_cloud_shares_its_state_with_a_server_through_etcd(tmp_path: Path) -> None:
    (tmp_path / "etcd").mkdir()
    with running_etcd(tmp_path / "etcd") as endpoint:
        env = {"THECLOUD_ETCD_ENDPOINT": endpoint}
        state_dir = tmp_path / "state"
        tenant = bootstrap(state_dir, tmp_path, "acme", env=env)

        async def create_in_process() -> str:
            async with Cloud(state_dir, tenant="acme", etcd_endpoint=endpoint) as cloud:
                return (await cloud.projects.create("made-embedded")).id

        made = asyncio.run(create_in_process())
        with running_server(state_dir, tmp_path, "server", env=env) as server:
            auth = {"Authorization": f"Bearer {tenant.token}"}
            got = server.get(f"/v1/tenants/{tenant.id}/projects/{made}", **auth)

        assert got.status_code == 200, got.text
        assert got.json()["name"] == "made-embedded"
        assert not (state_dir / "store.lmdb").exists()
