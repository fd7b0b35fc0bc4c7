"""The prometheus-client-shaped metrics API over the native registry: behaviour and bad input."""

from __future__ import annotations

import gc
import threading

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from thecloud.core.errors import CapacityError, ConflictError, InvalidArgumentError
from thecloud.dataplane.metrics import (
    OPENMETRICS_CONTENT_TYPE,
    PROMETHEUS_CONTENT_TYPE,
    Counter,
    Gauge,
    Histogram,
    NativeCollector,
    Registry,
    default_collectors,
    expose,
)

pytestmark = pytest.mark.unit


def samples(registry: Registry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = registry.render().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.fixture
def registry() -> Registry:
    return Registry(cardinality_limit=50)


def test_counter_counts_per_label_set(registry: Registry) -> None:
    requests = Counter("requests_total", "Requests.", ["route", "code"], registry=registry)
    requests.labels("/", "200").inc()
    requests.labels(route="/", code="200").inc(2.5)
    requests.labels("/x", 500).inc()
    got = samples(registry)
    assert got[("requests_total", (("code", "200"), ("route", "/")))] == 3.5
    assert got[("requests_total", (("code", "500"), ("route", "/x")))] == 1.0
    assert requests._name == "requests"


def test_positional_and_named_labels_reach_the_same_child(registry: Registry) -> None:
    requests = Counter("requests", "Requests.", ["route", "code"], registry=registry)
    assert requests.labels("/", "200") is requests.labels("/", "200")
    assert requests.labels(code="200", route="/") is requests.labels("/", "200")
    requests.labels(code="200", route="/").inc()
    requests.labels("/", "200").inc()
    assert samples(registry)[("requests_total", (("code", "200"), ("route", "/")))] == 2.0


def test_histogram_buckets_are_cumulative(registry: Registry) -> None:
    latency = Histogram("latency_seconds", "Latency.", buckets=(0.1, 1.0), registry=registry)
    for value in (0.05, 0.5, 5.0):
        latency.observe(value)
    got = samples(registry)
    assert got[("latency_seconds_bucket", (("le", "0.1"),))] == 1.0
    assert got[("latency_seconds_bucket", (("le", "1.0"),))] == 2.0
    assert got[("latency_seconds_bucket", (("le", "+Inf"),))] == 3.0
    assert got[("latency_seconds_count", ())] == 3.0
    assert got[("latency_seconds_sum", ())] == pytest.approx(5.55)


def test_gauge_moves_both_ways_and_tracks(registry: Registry) -> None:
    inflight = Gauge("inflight", "In flight.", registry=registry)
    inflight.inc(3)
    inflight.dec()
    assert samples(registry)[("inflight", ())] == 2.0
    with inflight.track_inprogress():
        assert samples(registry)[("inflight", ())] == 3.0
    inflight.set(-1.5)
    assert samples(registry)[("inflight", ())] == -1.5
    inflight.set_to_current_time()
    assert samples(registry)[("inflight", ())] > 1.7e9


def test_time_and_count_exceptions(registry: Registry) -> None:
    duration = Histogram("op_seconds", "Op.", registry=registry)
    failures = Counter("failures", "Failures.", registry=registry)

    @duration.time()
    @failures.count_exceptions(KeyError)
    def operation(fail: bool) -> None:
        if fail:
            raise KeyError("boom")

    operation(False)
    with pytest.raises(KeyError):
        operation(True)
    got = samples(registry)
    assert got[("op_seconds_count", ())] == 2.0
    assert got[("failures_total", ())] == 1.0


def test_namespace_subsystem_and_unit_build_the_name(registry: Registry) -> None:
    Gauge("size", "Size.", namespace="tc", subsystem="lb", unit="bytes", registry=registry).set(1)
    assert ("tc_lb_size_bytes", ()) in samples(registry)


def test_bad_input_is_refused_and_records_nothing(registry: Registry) -> None:
    counter = Counter("jobs", "Jobs.", ["queue"], registry=registry)
    plain = Counter("plain", "Plain.", registry=registry)
    before = registry.render()
    with pytest.raises(InvalidArgumentError, match="non-negative"):
        plain.inc(-1)
    with pytest.raises(InvalidArgumentError, match="label values"):
        counter.labels("a", "b")
    with pytest.raises(InvalidArgumentError, match=r"call \.labels"):
        counter.inc()
    with pytest.raises(InvalidArgumentError, match="no labels"):
        plain.labels("x")
    with pytest.raises(InvalidArgumentError, match="takes labels"):
        counter.labels(queue="a", other="b")
    with pytest.raises(InvalidArgumentError, match="by position or by name"):
        counter.labels("a", queue="a")
    with pytest.raises(InvalidArgumentError, match="invalid metric name"):
        Counter("bad-name", "x", registry=registry)
    with pytest.raises(InvalidArgumentError, match="invalid label name"):
        Counter("ok", "x", ["bad-label"], registry=registry)
    with pytest.raises(InvalidArgumentError, match="reserved"):
        Counter("ok", "x", ["__reserved"], registry=registry)
    with pytest.raises(InvalidArgumentError, match="le"):
        Histogram("h", "x", ["le"], registry=registry)
    with pytest.raises(InvalidArgumentError, match="increasing"):
        Histogram("h", "x", buckets=(2, 1), registry=registry)
    with pytest.raises(InvalidArgumentError, match="one string"):
        Counter("ok", "x", "queue", registry=registry)
    assert registry.render() == before
    # The errors are ValueErrors too, as prometheus-client users expect.
    with pytest.raises(ValueError):
        plain.inc(-1)


def test_conflicting_registration_is_refused(registry: Registry) -> None:
    Counter("events", "Events.", ["kind"], registry=registry)
    Counter("events", "Events.", ["kind"], registry=registry)  # identical: the same metric
    with pytest.raises(ConflictError):
        Gauge("events", "Events.", ["kind"], registry=registry)
    with pytest.raises(ConflictError):
        Counter("events", "Events.", ["other"], registry=registry)
    with pytest.raises(ConflictError):
        Gauge("events_total", "Clashes with the counter's sample.", registry=registry)


def test_cardinality_limit_bounds_memory(registry: Registry) -> None:
    users = Counter("by_user", "Per user.", ["user"], registry=registry)
    for i in range(50):
        users.labels(f"u{i}").inc()
    stats = registry.stats()
    with pytest.raises(CapacityError, match="cardinality limit"):
        users.labels("one-too-many").inc()
    assert registry.stats() == stats
    assert ("by_user_total", (("user", "one-too-many"),)) not in samples(registry)


def test_python_and_rust_threads_on_one_series_total_exactly(registry: Registry) -> None:
    hits = Counter("hits", "Hits.", ["shard"], registry=registry)
    child = hits.labels("all")
    family = registry.native.register("counter", "hits", "Hits.", ["shard"], [])
    per_thread = 20_000

    def python_worker() -> None:
        for _ in range(per_thread):
            child.inc()

    threads = [threading.Thread(target=python_worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    # Rust threads run with the GIL released, concurrently with the Python threads.
    registry.native.hammer_counter(family, ["all"], 4, 1_000_000)
    for thread in threads:
        thread.join()
    assert samples(registry)[("hits_total", (("shard", "all"),))] == 4 * per_thread + 4_000_000


def test_children_keep_their_memory_after_the_registry_is_dropped() -> None:
    registry = Registry()
    child = Counter("orphan", "Orphan.", ["k"], registry=registry).labels("v")
    histogram = Histogram("orphan_seconds", "Orphan.", registry=registry)
    del registry
    gc.collect()
    child.inc()  # would write unmapped memory if the mapping had gone with the registry
    histogram.observe(0.5)


def test_expose_negotiates_the_format(registry: Registry) -> None:
    Counter("c", "C.", registry=registry).inc()
    body, content_type = expose("text/plain", registry)
    assert content_type == PROMETHEUS_CONTENT_TYPE
    assert b"# TYPE c_total counter" in body
    accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
    body, content_type = expose(accept, registry)
    assert content_type == OPENMETRICS_CONTENT_TYPE
    assert b"# TYPE c counter" in body
    assert body.endswith(b"# EOF\n")


def test_default_collectors_are_bridged_into_the_scrape(registry: Registry) -> None:
    Counter("ours", "Ours.", registry=registry).inc()
    registry.include_collectors(*default_collectors())
    body, _ = expose(None, registry)
    assert b"ours_total 1.0" in body
    assert b"process_cpu_seconds_total" in body
    assert b"python_info" in body
    body, _ = expose("application/openmetrics-text", registry)
    assert body.count(b"# EOF") == 1
    assert body.endswith(b"# EOF\n")


def test_native_registry_registers_into_prometheus_client(registry: Registry) -> None:
    Counter("bridged", "Bridged.", ["k"], registry=registry).labels("v").inc(7)
    theirs = CollectorRegistry()
    theirs.register(NativeCollector(registry))
    assert b'bridged_total{k="v"} 7.0' in generate_latest(theirs)
