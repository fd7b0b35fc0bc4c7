"""The metrics endpoint against real Prometheus tools: promtool's linter and a live scrape."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from serving import free_port, running_server

from thecloud.dataplane.metrics import Counter, Histogram, Registry

pytestmark = pytest.mark.integration

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def test_promtool_accepts_our_exposition() -> None:
    registry = Registry()
    requests = Counter("http_requests", "Requests served.", ["route", "code"], registry=registry)
    requests.labels('/a "quoted"\\path', "200").inc(3)
    Histogram("request_seconds", "Latency.", ["route"], registry=registry).labels("/").observe(0.2)
    # promtool lints the 0.0.4 text format only; the OpenMetrics path is exercised by the live
    # scrape below (Prometheus asks for OpenMetrics first).
    body = registry.render()
    check = subprocess.run(
        [PROMTOOL, "check", "metrics"], check=False, input=body, capture_output=True, timeout=30
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_prometheus_scrapes_a_value_put_in_by_another_process(tmp_path: Path) -> None:
    # The server and this test share a metrics file: what the test records, the server serves.
    shm = tmp_path / "metrics.shm"
    sizes = {"max_shards": 16, "cells_per_shard": 1 << 16, "meta_capacity": 1 << 20}
    writer = Registry(shm, **sizes)
    Counter("thecloud_test_events", "Events put in by the test.", registry=writer).inc(42)

    env = {"THECLOUD_METRICS_SHM": str(shm)}
    with running_server(tmp_path / "state", tmp_path, "serve", env=env) as server:
        body = server.get("/metrics").text
        assert "thecloud_test_events_total 42.0" in body
        assert "thecloud_server_info{" in body
        assert "process_cpu_seconds_total" in body

        target = server.base_url.removeprefix("http://")
        web_port = free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s, scrape_timeout: 1s}\n"
            "scrape_configs:\n"
            f"  - job_name: thecloud\n    static_configs: [{{targets: ['{target}']}}]\n"
        )
        log = (tmp_path / "prometheus.log").open("wb")
        prometheus = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{web_port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            value = _query_until_present(
                f"http://127.0.0.1:{web_port}", "thecloud_test_events_total", timeout=60
            )
            assert value == 42.0
            up = _query_until_present(f"http://127.0.0.1:{web_port}", "up", timeout=10)
            assert up == 1.0
        finally:
            prometheus.terminate()
            prometheus.wait(timeout=20)
            log.close()


def _query_until_present(base: str, query: str, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            answer = httpx.get(f"{base}/api/v1/query", params={"query": query}, timeout=5).json()
            last = answer
            result = answer["data"]["result"]
            if result:
                return float(result[0]["value"][1])
        except (httpx.TransportError, ValueError, KeyError):
            pass
        time.sleep(0.5)
    pytest.fail(f"Prometheus never returned {query}; last answer: {last}")
