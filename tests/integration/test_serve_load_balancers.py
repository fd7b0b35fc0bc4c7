"""A load balancer created over the API is run by the real native engine inside `thecloud serve`.

Bootstrap, serve, create a project and a load balancer in front of a real backend on loopback;
the operation completes, traffic flows through the engine, stats and /metrics show it, and
deleting it stops the engine.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from serving import bootstrap, http_backend, running_server

pytestmark = pytest.mark.integration


@pytest.fixture
def backend() -> Iterator[str]:
    """A plain HTTP server on loopback; yields its host:port."""
    with http_backend(b"hello from the backend") as address:
        yield address


def test_a_load_balancer_created_over_the_api_serves_traffic(tmp_path: Path, backend: str) -> None:
    state_dir = tmp_path / "state"
    acme = bootstrap(state_dir, tmp_path, "acme")
    token, tenant_id = acme.token, acme.id
    admin = {"Authorization": f"Bearer {token}"}
    with running_server(state_dir, tmp_path, "lb") as server:
        with httpx.Client(base_url=server.base_url, headers=admin, timeout=20.0) as client:
            project = client.post(f"/v1/tenants/{tenant_id}/projects", json={"name": "web"})
            base = f"/v1/tenants/{tenant_id}/projects/{project.json()['id']}/load-balancers"
            config = {
                "listeners": [{"name": "http", "bind": "127.0.0.1:0"}],
                "pools": [{"name": "app", "backends": [{"address": backend}]}],
            }
            created = client.post(base, json={"name": "front", "config": config})
            assert created.status_code == 202, created.text
            operation = client.get(f"{created.headers['location']}?wait=15").json()
            assert operation["status"] == "succeeded", operation
            address = operation["result"]["addresses"]["http"]

            for _ in range(3):
                proxied = httpx.get(f"http://{address}/", timeout=5.0)
                assert proxied.status_code == 200
                assert proxied.text == "hello from the backend"

            lb_id = operation["target"].rsplit("/", 1)[-1]
            stats = client.get(f"{base}/{lb_id}/stats").json()
            assert stats["state"] == "running"
            assert stats["stats"]["requests_total"] >= 3
            scrape = httpx.get(f"{server.base_url}/metrics", timeout=5.0).text
            assert f'thecloud_lb_requests_total{{lb="{lb_id}"}}' in scrape

            bad = client.post(base, json={"name": "broken", "config": {"listeners": []}})
            assert bad.status_code == 400
            assert "listeners" in bad.json()["detail"]

            deleted = client.delete(f"{base}/{lb_id}")
            assert deleted.status_code == 202
            done = client.get(f"{deleted.headers['location']}?wait=15").json()
            assert done["status"] == "succeeded", done
            assert client.get(f"{base}/{lb_id}").status_code == 404
            host, _, port = address.rpartition(":")
            with pytest.raises(OSError), socket.create_connection((host, int(port)), timeout=2):
                pass
        output = server.output()
        assert "Traceback" not in output
        assert token not in output


def test_load_balancers_come_back_after_a_restart(tmp_path: Path, backend: str) -> None:
    state_dir = tmp_path / "state"
    acme = bootstrap(state_dir, tmp_path, "acme")
    token, tenant_id = acme.token, acme.id
    admin = {"Authorization": f"Bearer {token}"}
    config = {
        "listeners": [{"name": "http", "bind": "127.0.0.1:0"}],
        "pools": [{"name": "app", "backends": [{"address": backend}]}],
    }
    with (
        running_server(state_dir, tmp_path, "first") as server,
        httpx.Client(base_url=server.base_url, headers=admin, timeout=20.0) as client,
    ):
        project = client.post(f"/v1/tenants/{tenant_id}/projects", json={"name": "web"})
        base = f"/v1/tenants/{tenant_id}/projects/{project.json()['id']}/load-balancers"
        created = client.post(base, json={"name": "front", "config": config})
        operation = client.get(f"{created.headers['location']}?wait=15").json()
        assert operation["status"] == "succeeded", operation
        lb_id = operation["target"].rsplit("/", 1)[-1]
    with (
        running_server(state_dir, tmp_path, "second") as server,
        httpx.Client(base_url=server.base_url, headers=admin, timeout=20.0) as client,
    ):
        deadline = time.monotonic() + 15
        while True:
            stats = client.get(f"{base}/{lb_id}/stats").json()
            if stats["stats"] or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert stats["state"] == "running"
        shown = client.get(f"{base}/{lb_id}").json()
        address = shown["status"]["addresses"]["http"]
        assert httpx.get(f"http://{address}/", timeout=5.0).text == "hello from the backend"
