"""Acknowledged writes survive SIGKILL: kill `thecloud serve` under a write load, restart it, and
every create that got a 2xx is there, with its audit entry, and the audit chain is intact."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from serving import environment, running_server

pytestmark = pytest.mark.integration

WRITERS = 8
LOAD_SECONDS = 1.5


def _bootstrap(state_dir: Path, workdir: Path) -> tuple[str, str]:
    command = [sys.executable, "-m", "thecloud.control.cli", "admin", "bootstrap"]
    command += ["--state-dir", str(state_dir), "--tenant", "acme"]
    made = subprocess.run(
        command,
        check=False,
        cwd=workdir,
        env=environment({}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    return made.stdout.strip(), made.stderr.split()[1].rstrip(",")


def _write_until_refused(url: str, headers: dict[str, str], prefix: str, acked: list[str]) -> None:
    with httpx.Client(headers=headers, timeout=5.0) as client:
        for n in range(100_000):
            name = f"{prefix}-{n}"
            try:
                response = client.post(url, json={"name": name})
            except httpx.TransportError:
                return  # the server is gone: whatever was not acknowledged may be lost
            if response.status_code == 201:
                acked.append(response.json()["id"])


def _all_projects(client: httpx.Client, url: str) -> set[str]:
    found: set[str] = set()
    token = None
    while True:
        params = {"limit": "1000", **({"page_token": token} if token else {})}
        page = client.get(url, params=params).json()
        found |= {item["id"] for item in page["items"]}
        token = page["next_page_token"]
        if token is None:
            return found


def test_every_acknowledged_write_survives_sigkill(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    token, tenant_id = _bootstrap(state_dir, tmp_path)
    headers = {"Authorization": f"Bearer {token}"}
    acked: list[str] = []
    with running_server(state_dir, tmp_path, "before") as server:
        url = f"{server.base_url}/v1/tenants/{tenant_id}/projects"
        writers = [
            threading.Thread(target=_write_until_refused, args=(url, headers, f"w{i}", acked))
            for i in range(WRITERS)
        ]
        for writer in writers:
            writer.start()
        time.sleep(LOAD_SECONDS)
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(timeout=10)
        for writer in writers:
            writer.join(timeout=30)
        assert not any(writer.is_alive() for writer in writers)
    assert len(acked) > 20, "the load produced too few writes to mean anything"

    with running_server(state_dir, tmp_path, "after") as server:
        base = f"{server.base_url}/v1/tenants/{tenant_id}"
        with httpx.Client(headers=headers, timeout=10.0) as client:
            present = _all_projects(client, f"{base}/projects")
            missing = set(acked) - present
            assert not missing, f"{len(missing)} of {len(acked)} acknowledged creates were lost"
            assert client.get(f"{base}/audit/verify").json() == {
                "intact": True,
                "first_bad_sequence": None,
            }
            audited: set[str] = set()
            page_token = None
            while True:
                params = {"limit": "1000", **({"page_token": page_token} if page_token else {})}
                page = client.get(f"{base}/audit", params=params).json()
                audited |= {
                    entry["resource"].rsplit("/", 1)[-1]
                    for entry in page["items"]
                    if entry["action"] == "project.create" and entry["result"] == "success"
                }
                page_token = page["next_page_token"]
                if page_token is None:
                    break
            # A change and its audit entry are one commit: every project that exists is audited.
            assert present <= audited
