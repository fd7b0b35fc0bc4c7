"""What the load balancer tells its operator: the JSON-lines access log and stats() counters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lb_support import backends, config, running, wait_until

pytestmark = pytest.mark.integration


def test_access_log_writes_one_json_line_per_request(tmp_path: Path) -> None:
    log = tmp_path / "access.jsonl"
    with backends(1) as (backend,):
        document = config([backend], access_log={"enabled": True, "path": str(log)})
        document["listeners"][0]["routes"] = [{"name": "logged", "pool": "app"}]
        with running(document) as proxy:
            for index in range(5):
                assert proxy.get(f"/item/{index}", {"Host": "log.example"}).status == 200
            assert proxy.get("/missing", {"Host": "log.example"}, method="DELETE").status == 200

            def lines() -> list[str]:
                return log.read_text().splitlines() if log.exists() else []

            # Written off the request path, so it may trail the answers a little.
            assert wait_until(lambda: len(lines()) == 6, 3.0), lines()
            stats = proxy.balancer.stats()
    entries = [json.loads(line) for line in lines()]
    assert [e["target"] for e in entries] == [*(f"/item/{i}" for i in range(5)), "/missing"]
    assert {e["status"] for e in entries} == {200}
    assert {e["route"] for e in entries} == {"logged"}
    assert {e["pool"] for e in entries} == {"app"}
    assert {e["host"] for e in entries} == {"log.example"}
    assert entries[-1]["method"] == "DELETE"
    assert {e["backend"] for e in entries} == {backend.address}
    assert stats["access_log_dropped"] == 0


def test_stats_count_connections_requests_and_backend_state() -> None:
    with backends(2) as pool, running(config(pool)) as proxy:
        for _ in range(6):
            assert proxy.get("/").status == 200
        stats = proxy.balancer.stats()
    assert stats["requests_total"] == 6
    assert stats["connections_total"] == 6
    counted = stats["pools"]["app"]["backends"]
    assert [b["address"] for b in counted] == [b.address for b in pool]
    assert [b["requests"] for b in counted] == [3, 3]
    assert all(b["up"] and not b["ejected"] for b in counted)
