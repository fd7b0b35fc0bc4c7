"""Acknowledged writes survive SIGKILL: kill `thecloud serve` under a write load, restart it, and
every create that got a 2xx is there, with its audit entry, and the audit chain is intact."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from serving import bootstrap, running_server

pytestmark = pytest.mark.integration

WRITERS = 8
LOAD_SECONDS = 1.5


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


def _all_items(client: httpx.Client, url: str) -> Iterator[dict[str, Any]]:
    """Every item of a paged list, page after page."""
    token = None
    while True:
        params = {"limit": "1000", **({"page_token": token} if token else {})}
        page = client.get(url, params=params).json()
        yield from page["items"]
        token = page["next_page_token"]
        if token is None:
            return


def test_every_acknowledged_write_survives_sigkill(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    admin = bootstrap(state_dir, tmp_path, "acme")
    headers = {"Authorization": f"Bearer {admin.token}"}
    acked: list[str] = []
    with running_server(state_dir, tmp_path, "before") as server:
        url = f"{server.base_url}/v1/tenants/{admin.id}/projects"
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
        base = f"{server.base_url}/v1/tenants/{admin.id}"
        with httpx.Client(headers=headers, timeout=10.0) as client:
            present = {item["id"] for item in _all_items(client, f"{base}/projects")}
            missing = set(acked) - present
            assert not missing, f"{len(missing)} of {len(acked)} acknowledged creates were lost"
            assert client.get(f"{base}/audit/verify").json() == {
                "intact": True,
                "first_bad_sequence": None,
            }
            audited = {
                entry["resource"].rsplit("/", 1)[-1]
                for entry in _all_items(client, f"{base}/audit")
                if entry["action"] == "project.create" and entry["result"] == "success"
            }
            # A change and its audit entry are one commit: every project that exists is audited.
            assert present <= audited
