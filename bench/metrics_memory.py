"""Memory per metric series, ours vs prometheus-client, each measured in a fresh process.

RSS is used rather than tracemalloc because our series live partly in native memory (the Rust
catalog and the mmapped cells) that tracemalloc cannot see. Label values are created before the
baseline in both cases, so neither library is charged for the caller's strings.
"""

from __future__ import annotations

import gc
import tracemalloc
from typing import Any

from bench.labels import LABEL_NAMES, label_pairs
from bench.memory import rss_bytes

LIBRARIES = ("ours", "prometheus-client")
KINDS = ("counter", "histogram")
OBSERVED = 0.3
"""The value histogram series observe once (so every series has been written)."""


def _family(library: str, kind: str, count: int) -> Any:
    if library == "ours":
        from thecloud.dataplane.metrics import Counter, Histogram, Registry

        registry = Registry(cardinality_limit=max(count, 10_000))
        cls: Any = Counter if kind == "counter" else Histogram
        return cls("bench_series", "Series for a memory benchmark.", LABEL_NAMES, registry=registry)
    if library == "prometheus-client":
        import prometheus_client

        theirs: Any = (
            prometheus_client.Counter if kind == "counter" else prometheus_client.Histogram
        )
        return theirs(
            "bench_series",
            "Series for a memory benchmark.",
            LABEL_NAMES,
            registry=prometheus_client.CollectorRegistry(),
        )
    raise ValueError(f"unknown library {library!r}; expected one of {LIBRARIES}")


def series_memory(library: str, kind: str, count: int, trace: bool = False) -> dict[str, float]:
    """Creates `count` labeled series of one family and returns the RSS growth per series.

    Meant for a fresh process (`bench.isolated.run_isolated`); the family and the label values
    exist before the baseline is taken. With `trace`, also returns the Python-heap growth per
    series seen by tracemalloc (whose own bookkeeping then inflates the RSS figure: use a
    separate run for each).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {KINDS}")
    pairs = label_pairs(count)
    family = _family(library, kind, count)
    gc.collect()
    if trace:
        tracemalloc.start()
    traced_before = tracemalloc.get_traced_memory()[0]
    before = rss_bytes()
    if kind == "counter":
        for method, route in pairs:
            family.labels(method, route).inc()
    else:
        for method, route in pairs:
            family.labels(method, route).observe(OBSERVED)
    gc.collect()
    after = rss_bytes()
    traced = tracemalloc.get_traced_memory()[0] - traced_before
    tracemalloc.stop()
    return {
        "bytes_per_series": (after - before) / count,
        "python_heap_bytes_per_series": traced / count,
        "rss_before": float(before),
        "rss_after": float(after),
    }
