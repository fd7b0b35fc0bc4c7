"""`thecloud` child processes for integration tests: bootstrap a tenant, start a server, wait until
it is healthy, stop it; and a plain HTTP backend on loopback for load balancers to front."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def environment(extra: Mapping[str, str]) -> dict[str, str]:
    """The environment for a `thecloud` child process: this source tree, no THECLOUD_ vars."""
    # Settings must come from the flags alone, whatever the developer's shell exports.
    env = {key: value for key, value in os.environ.items() if not key.startswith("THECLOUD_")}
    # Works from the source tree too; harmless beside an editable install of the same folders.
    source = os.pathsep.join(str(REPO / part) for part in ("core", "dataplane", "control"))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [source, env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def run_cli(
    *args: str, workdir: Path, env: Mapping[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Runs `thecloud ARGS` to the end in `workdir`, its output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "thecloud.control.cli", *args],
        check=False,
        cwd=workdir,
        env=environment(env or {}),
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
    )


@dataclass(frozen=True)
class Tenant:
    """A bootstrapped tenant and its admin's API key."""

    id: str
    token: str


def bootstrap(
    state_dir: Path, workdir: Path, tenant: str, env: Mapping[str, str] | None = None
) -> Tenant:
    """`thecloud admin bootstrap` for a new tenant; fails the test if it does not succeed."""
    made = run_cli(
        "admin",
        "bootstrap",
        "--state-dir",
        str(state_dir),
        "--tenant",
        tenant,
        workdir=workdir,
        env=env,
    )
    assert made.returncode == 0, made.stderr
    # stderr says what was made: "tenant tnt-..., admin service account sva-...".
    return Tenant(made.stderr.split()[1].rstrip(","), made.stdout.strip())


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
def running_server(
    state_dir: Path, workdir: Path, name: str, env: Mapping[str, str] | None = None
) -> Iterator[RunningServer]:
    """Runs `thecloud serve` on a free loopback port until the block ends (killed if still up)."""
    port = free_port()
    log = workdir / f"{name}.log"
    command = [sys.executable, "-m", "thecloud.control.cli", "serve"]
    command += ["--port", str(port), "--state-dir", str(state_dir)]
    # A file, not a pipe: nobody reads the child's output while it runs, and a full pipe blocks it.
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, cwd=workdir, env=environment(env or {}), stdout=sink, stderr=subprocess.STDOUT
        )
    server = RunningServer(process, f"http://127.0.0.1:{port}", log)
    try:
        server.wait_until_healthy()
        yield server
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@contextmanager
def http_backend(body: bytes) -> Iterator[str]:
    """A plain HTTP server on loopback answering every GET with `body`; yields its host:port."""

    class Answer(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the tests read responses, not the log."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
