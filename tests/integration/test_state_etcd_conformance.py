"""The state-store conformance suite against a real etcd server (Debian's etcd-server).

One etcd runs for the module on free loopback ports with a throw-away data directory; each test
gets its own namespace in it, so tests do not see each other's keys.
"""

from __future__ import annotations

import contextlib
import itertools
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.state_conformance import *  # noqa: F403
from tests.state_conformance import StoreOpener
from thecloud.core.state import EtcdStateStore, StateStore

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

_namespaces = itertools.count()


def free_port() -> int:
    """Return a loopback TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def etcd_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Run etcd for this module and yield its client URL."""
    binary = shutil.which("etcd") or "/usr/bin/etcd"
    if not Path(binary).exists():
        pytest.fail("etcd is not installed; the bootstrap installs Debian's etcd-server")
    data = tmp_path_factory.mktemp("etcd")
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


@pytest.fixture
def open_store(etcd_endpoint: str) -> StoreOpener:
    """Open an etcd store in a namespace of its own; every call in one test reuses it."""
    namespace = f"test{next(_namespaces)}/"

    @contextlib.asynccontextmanager
    async def opener(**options: Any) -> AsyncIterator[StateStore]:
        store = await EtcdStateStore.open(etcd_endpoint, namespace=namespace, **options)
        async with store:
            yield store

    return opener
