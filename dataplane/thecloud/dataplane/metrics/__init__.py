"""Native metrics: a prometheus-client-shaped API over a lock-free sharded registry.

Switching from prometheus-client is a change of import::

    from thecloud.dataplane.metrics import Counter, Gauge, Histogram

    REQUESTS = Counter("requests", "Requests served.", ["route"])
    REQUESTS.labels("/").inc()

Counters and histograms write a per-process single-writer shard; gauges an atomic shard; Rust
engines write their own shards of the same registry. A scrape sums the shards and renders
Prometheus 0.0.4 or OpenMetrics text natively with the GIL released (`expose`).
"""

from thecloud.dataplane.metrics._hot import DEFAULT_BUCKETS, Counter, Gauge, Histogram
from thecloud.dataplane.metrics.bridge import NativeCollector, default_collectors
from thecloud.dataplane.metrics.exposition import (
    OPENMETRICS_CONTENT_TYPE,
    PROMETHEUS_CONTENT_TYPE,
    expose,
    wants_openmetrics,
)
from thecloud.dataplane.metrics.registry import REGISTRY, Registry

__all__ = [
    "DEFAULT_BUCKETS",
    "OPENMETRICS_CONTENT_TYPE",
    "PROMETHEUS_CONTENT_TYPE",
    "REGISTRY",
    "Counter",
    "Gauge",
    "Histogram",
    "NativeCollector",
    "Registry",
    "default_collectors",
    "expose",
    "wants_openmetrics",
]
