"""Embedded mode runs load balancers too: created in-process, serving real traffic, stopped."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from serving import free_port, http_backend

from thecloud.control.bootstrap import bootstrap
from thecloud.control.cli.load_balancers import flag_config
from thecloud.sdk.embedded import Cloud

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    """Run on asyncio, the loop the control plane uses."""
    return "asyncio"


@pytest.fixture
def backend() -> Iterator[str]:
    """An HTTP server on loopback; yields its address."""
    with http_backend(b"ok") as address:
        yield address


async def _get(url: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=5.0) as client:
        return await client.get(url)


async def test_an_embedded_load_balancer_serves_and_stops(tmp_path: Path, backend: str) -> None:
    await bootstrap(tmp_path, "acme")
    port = free_port()
    seen: list[str] = []

    async with Cloud(tmp_path) as cloud:
        project = await cloud.projects.create("edge")
        config = flag_config(f"127.0.0.1:{port}", [backend])
        started = await cloud.load_balancers.create("front", config, project=project.id)
        done = await cloud.operations.wait(
            started.id, timeout=30, progress=lambda op: seen.append(op.status)
        )
        lb_id = done.target.rsplit("/", 1)[-1]
        answer = await _get(f"http://127.0.0.1:{port}/")
        stats = await cloud.load_balancers.stats(lb_id, project=project.id)
        stopping = await cloud.load_balancers.delete(lb_id, project=project.id)
        await cloud.operations.wait(stopping.id, timeout=30)

    assert seen[-1] == "succeeded"
    assert answer.text == "ok"
    assert stats.state == "running"
    assert stats.stats["requests_total"] >= 1
    with pytest.raises(httpx.TransportError):
        await asyncio.wait_for(_get(f"http://127.0.0.1:{port}/"), 5)
