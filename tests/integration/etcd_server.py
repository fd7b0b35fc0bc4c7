"""A throw-away etcd server (Debian's etcd-server) on free loopback ports, for integration tests."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.integration.serving import free_port


@contextmanager
def running_etcd(data: Path) -> Iterator[str]:
    """Run etcd with its data under `data` until the block ends; yield its client URL."""
    binary = shutil.which("etcd") or "/usr/bin/etcd"
    if not Path(binary).exists():
        pytest.fail("etcd is not installed; the bootstrap installs Debian's etcd-server")
    client = f"http://127.0.0.1:{free_port()}"
    peer = f"http://127.0.0.1:{free_port()}"
    log = (data / "etcd.log").open("wb")
    process = subprocess.Popen(
        [
            binary,
            "--name=test",
            f"--data-dir={data / 'data'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=test={peer}",
            "--log-level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                pytest.fail(f"etcd exited with {process.returncode}; see {data / 'etcd.log'}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{client}/health", timeout=1).json().get("health") == "true":
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"etcd did not become healthy; see {data / 'etcd.log'}")
            time.sleep(0.1)
        yield client
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
