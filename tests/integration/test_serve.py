"""`thecloud serve` as a real process: health, identity across restarts, metrics, clean stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _environment() -> dict[str, str]:
    # Settings must come from the flags alone, whatever the developer's shell exports.
    env = {key: value for key, value in os.environ.items() if not key.startswith("THECLOUD_")}
    # Works from the source tree too; harmless beside an editable install of the same folders.
    source = os.pathsep.join(str(REPO / part) for part in ("core", "dataplane", "control"))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [source, env.get("PYTHONPATH")]))
    return env


class RunningServer:
    """A `thecloud serve` child process and the URL it answers on."""

    def __init__(self, process: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
        self.process = process
        self.base_url = base_url
        self.log = log

    def get(self, path: str, **headers: str) -> httpx.Response:
        return httpx.get(f"{self.base_url}{path}", headers=headers, timeout=5.0)

    def wait_until_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"server exited with {self.process.returncode}:\n{self.output()}")
            try:
                if self.get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        pytest.fail(f"server not healthy after {STARTUP_TIMEOUT} s:\n{self.output()}")

    def stop(self, signum: signal.Signals) -> int:
        self.process.send_signal(signum)
        try:
            return self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"server still running {STOP_TIMEOUT} s after {signum.name}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def running_server(state_dir: Path, workdir: Path, name: str) -> Iterator[RunningServer]:
    port = _free_port()
    log = workdir / f"{name}.log"
    command = [sys.executable, "-m", "thecloud.control.cli", "serve"]
    command += ["--port", str(port), "--state-dir", str(state_dir)]
    # A file, not a pipe: nobody reads the child's output while it runs, and a full pipe blocks it.
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, cwd=workdir, env=_environment(), stdout=sink, stderr=subprocess.STDOUT
        )
    server = RunningServer(process, f"http://127.0.0.1:{port}", log)
    try:
        server.wait_until_healthy()
        yield server
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


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
