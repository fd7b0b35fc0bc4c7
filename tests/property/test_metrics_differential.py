"""Differential test: the same random operations on our registry and on prometheus-client
render the same samples (and, with created series off, the same bytes)."""

from __future__ import annotations

import math
from collections.abc import Iterator

import prometheus_client
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from thecloud.dataplane import metrics as ours

pytestmark = pytest.mark.property

LABEL_VALUES = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=8)
AMOUNTS = st.floats(min_value=0, max_value=1e12, allow_nan=False) | st.integers(0, 10**6)
OBSERVATIONS = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9)
# OpenMetrics forbids negative histogram sums, so histograms observe non-negative values only.
SIZES = st.floats(allow_nan=False, allow_infinity=False, min_value=0, max_value=1e9)
BUCKETS = (0.001, 0.5, 1.0, 7.25, 1000.0)

OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("counter"), st.tuples(LABEL_VALUES, LABEL_VALUES), AMOUNTS),
        st.tuples(st.just("gauge_set"), st.tuples(LABEL_VALUES), OBSERVATIONS),
        st.tuples(st.just("gauge_inc"), st.tuples(LABEL_VALUES), st.integers(-100, 100)),
        st.tuples(st.just("histogram"), st.tuples(), SIZES),
        st.tuples(st.just("histogram_labeled"), st.tuples(LABEL_VALUES), SIZES),
    ),
    max_size=40,
)


@pytest.fixture(scope="module", autouse=True)
def _no_created_series() -> Iterator[None]:
    prometheus_client.disable_created_metrics()
    yield
    prometheus_client.enable_created_metrics()


def build(module: object, registry: object) -> dict[str, object]:
    make = {
        "counter": module.Counter("ops", "Ops \\ with\nnewline.", ["a", "b"], registry=registry),  # type: ignore[attr-defined]
        "gauge": module.Gauge("level", "Level.", ["z"], registry=registry),  # type: ignore[attr-defined]
        "histogram": module.Histogram("lat", "Lat.", registry=registry, buckets=BUCKETS),  # type: ignore[attr-defined]
        "histogram_labeled": module.Histogram(  # type: ignore[attr-defined]
            "size", "Size.", ["zone"], registry=registry, buckets=BUCKETS
        ),
    }
    return make


def apply(metrics: dict[str, object], operations: list[tuple[str, tuple[str, ...], float]]) -> None:
    for kind, labels, amount in operations:
        if kind == "counter":
            metrics["counter"].labels(*labels).inc(amount)  # type: ignore[attr-defined]
        elif kind == "gauge_set":
            metrics["gauge"].labels(*labels).set(amount)  # type: ignore[attr-defined]
        elif kind == "gauge_inc":
            metrics["gauge"].labels(*labels).inc(amount)  # type: ignore[attr-defined]
        elif kind == "histogram":
            metrics["histogram"].observe(amount)  # type: ignore[attr-defined]
        else:
            metrics["histogram_labeled"].labels(*labels).observe(amount)  # type: ignore[attr-defined]


def parsed(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def same_value(a: float, b: float) -> bool:
    # Sums of many floats may be added in another order (per-shard sums); allow rounding only.
    return a == b or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def run_both(
    operations: list[tuple[str, tuple[str, ...], float]],
) -> tuple[ours.Registry, prometheus_client.CollectorRegistry]:
    our_registry = ours.Registry()
    their_registry = prometheus_client.CollectorRegistry()
    apply(build(ours, our_registry), operations)
    apply(build(prometheus_client, their_registry), operations)
    return our_registry, their_registry


@settings(max_examples=150, deadline=None)
@given(OPERATIONS)
def test_random_operations_render_the_same_samples(
    operations: list[tuple[str, tuple[str, ...], float]],
) -> None:
    our_registry, their_registry = run_both(operations)
    our_text = our_registry.render().decode()
    their_text = prometheus_client.generate_latest(their_registry).decode()
    mine, theirs = parsed(our_text), parsed(their_text)
    assert mine.keys() == theirs.keys()
    for key, value in theirs.items():
        assert same_value(mine[key], value), (key, mine[key], value)
    # Both write the same families, in the same order, with the same escaping.
    assert our_text == their_text


@settings(max_examples=60, deadline=None)
@given(OPERATIONS)
def test_openmetrics_matches_prometheus_client(
    operations: list[tuple[str, tuple[str, ...], float]],
) -> None:
    from prometheus_client.openmetrics.exposition import generate_latest as om_generate
    from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse

    our_registry, their_registry = run_both(operations)
    mine = list(om_parse(our_registry.render(openmetrics=True).decode()))
    theirs = list(om_parse(om_generate(their_registry).decode()))
    assert [(f.name, f.type, f.documentation) for f in mine] == [
        (f.name, f.type, f.documentation) for f in theirs
    ]
    for a, b in zip(mine, theirs, strict=True):
        assert len(a.samples) == len(b.samples)
        for x, y in zip(a.samples, b.samples, strict=True):
            assert (x.name, x.labels) == (y.name, y.labels)
            assert same_value(x.value, y.value)
