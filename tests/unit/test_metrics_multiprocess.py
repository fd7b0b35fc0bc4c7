"""Several processes reporting into one shared registry file (a real mmap'd file, real forks)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from thecloud.dataplane.metrics import Counter, Gauge, Registry

pytestmark = pytest.mark.unit

SIZES = {"max_shards": 16, "cells_per_shard": 1 << 16, "meta_capacity": 1 << 20}

WORKER = """
import sys
from thecloud.dataplane.metrics import Counter, Registry
registry = Registry(sys.argv[1], max_shards=16, cells_per_shard=1 << 16, meta_capacity=1 << 20)
jobs = Counter("jobs", "Jobs.", ["worker"], registry=registry)
shared = Counter("shared", "Shared.", registry=registry)
for _ in range(1000):
    jobs.labels(sys.argv[2]).inc()
    shared.inc()
"""


def value(registry: Registry, name: str, labels: dict[str, str] | None = None) -> float:
    for family in text_string_to_metric_families(registry.render().decode()):
        for sample in family.samples:
            if sample.name == name and sample.labels == (labels or {}):
                return float(sample.value)
    raise AssertionError(f"{name}{labels} not rendered")


def test_worker_processes_report_into_one_scrape(tmp_path: Path) -> None:
    path = tmp_path / "metrics.shm"
    scraper = Registry(path, **SIZES)
    workers = [
        subprocess.Popen([sys.executable, "-c", WORKER, str(path), f"w{i}"]) for i in range(3)
    ]
    assert [w.wait(timeout=60) for w in workers] == [0, 0, 0]
    assert value(scraper, "shared_total") == 3000.0
    for i in range(3):
        assert value(scraper, "jobs_total", {"worker": f"w{i}"}) == 1000.0
    assert scraper.stats()["series"] == 4


def test_forked_child_writes_its_own_shard(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "metrics.shm", **SIZES)
    counter = Counter("forked", "Forked.", registry=registry)
    gauge = Gauge("level", "Level.", registry=registry)
    counter.inc()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        for _ in range(500):
            counter.inc()
            gauge.inc()
        os._exit(0)
    for _ in range(500):
        counter.inc()
        gauge.inc()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert value(registry, "forked_total") == 1001.0
    assert value(registry, "level") == 1000.0


def test_a_file_that_is_not_a_registry_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "not-metrics"
    path.write_bytes(b"hello" * 100)
    with pytest.raises(ValueError, match="not a thecloud metrics region"):
        Registry(path)
