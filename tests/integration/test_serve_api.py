"""The `/v1` API through a real socket: bootstrap offline, serve, create a key, use it."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest
from serving import run_cli, running_server

pytestmark = pytest.mark.integration


def test_bootstrap_then_serve_then_manage_keys(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    command = ["admin", "bootstrap", "--state-dir", str(state_dir), "--tenant", "acme"]
    made = run_cli(*command, workdir=tmp_path)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("tck_")
    assert token not in made.stderr
    # stderr says what was made: "tenant tnt-..., admin service account sva-...".
    tenant_id = made.stderr.split()[1].rstrip(",")
    assert tenant_id.startswith("tnt-")

    again = run_cli(*command, workdir=tmp_path)
    assert again.returncode == 1
    assert "exists already" in again.stderr
    assert again.stdout == ""

    with running_server(state_dir, tmp_path, "api") as server:
        admin = {"Authorization": f"Bearer {token}"}
        accounts = httpx.get(
            f"{server.base_url}/v1/tenants/x/service-accounts", headers=admin, timeout=5.0
        )
        # A tenant the key does not belong to is simply not there.
        assert accounts.status_code == 404
        base = f"{server.base_url}/v1/tenants/{tenant_id}"
        bot = httpx.post(f"{base}/service-accounts", json={"name": "bot"}, headers=admin)
        assert bot.status_code == 201, bot.text
        grant = {
            "principal_kind": "service_account",
            "principal_id": bot.json()["id"],
            "role": "reader",
        }
        assert httpx.post(f"{base}/role-bindings", json=grant, headers=admin).status_code == 201
        body = {"principal_kind": "service_account", "principal_id": bot.json()["id"], "name": "k"}
        issued = httpx.post(f"{base}/keys", json=body, headers=admin)
        assert issued.status_code == 201, issued.text
        bot_headers = {"X-API-Key": issued.json()["token"]}

        listed = httpx.get(f"{base}/service-accounts", headers=bot_headers)
        assert listed.status_code == 200
        assert {a["name"] for a in listed.json()["items"]} == {"admin", "bot"}
        denied = httpx.post(f"{base}/projects", json={"name": "web"}, headers=bot_headers)
        assert denied.status_code == 403
        assert denied.headers["content-type"] == "application/problem+json"
        verify = httpx.get(f"{base}/audit/verify", headers=admin)
        assert verify.json()["intact"] is True

        assert server.stop(signal.SIGTERM) == 0
        output = server.output()
        assert "Traceback" not in output
        assert token not in output
        assert issued.json()["token"] not in output
