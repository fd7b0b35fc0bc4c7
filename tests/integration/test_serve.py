"""`thecloud serve` as a real process: health, identity across restarts, metrics, clean stop."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from serving import running_server

pytestmark = pytest.mark.integration


def test_serve_answers_keeps_its_identity_and_stops_cleanly(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"

    with running_server(state_dir, tmp_path, "first") as server:
        health = server.get("/healthz")
        assert health.status_code == 200
        assert health.json() == {"status": "ok"}

        version = server.get("/version").json()
        server_id = version["server_id"]
        assert server_id.startswith("srv-")
        assert version["version"]
        assert version["started_at"]

        metrics = server.get("/metrics", accept="text/plain")
        assert metrics.status_code == 200
        content_type = metrics.headers["content-type"]
        assert content_type.startswith(("text/plain", "application/openmetrics-text"))

        missing = server.get("/no-such-thing")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"

        assert server.stop(signal.SIGINT) == 0
        output = server.output()
        assert f"serving on {server.base_url}" in output
        assert server_id in output
        assert "Traceback" not in output

    with running_server(state_dir, tmp_path, "second") as server:
        assert server.get("/version").json()["server_id"] == server_id
        assert server.stop(signal.SIGTERM) == 0
        assert "Traceback" not in server.output()
