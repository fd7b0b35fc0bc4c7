"""VolumeMetrics: what a volume store reports to the metrics registry.

Families are registered by name, so several stores in one process that share a registry add
into the same series, as several handlers of one route do.
"""

from __future__ import annotations

from typing import Final

from thecloud.dataplane.metrics import REGISTRY, Counter, Histogram, Registry
from thecloud.dataplane.metrics._hot import CounterChild, HistogramChild

__all__ = ["OPERATIONS", "VolumeMetrics"]

#: The `op` label values of the operation counters and latency histogram.
OPERATIONS: Final = ("read", "write", "trim", "flush", "scrub", "rebuild")
# Latencies range from a page-cache 4 KiB read (~10 us) to a flush of many stripes (seconds).
_LATENCY_BUCKETS: Final = (
    0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


class VolumeMetrics:
    """The store's counters and histograms, with label children looked up once."""

    def __init__(self, registry: Registry = REGISTRY) -> None:
        self.registry = registry
        io_bytes = Counter(
            "thecloud_volume_io_bytes",
            "Bytes read from or written to volumes by clients.",
            ["op"],
            registry=registry,
        )
        operations = Counter(
            "thecloud_volume_operations",
            "Volume operations completed, by kind.",
            ["op"],
            registry=registry,
        )
        latency = Histogram(
            "thecloud_volume_operation_seconds",
            "Time spent in volume operations, by kind.",
            ["op"],
            registry=registry,
            buckets=_LATENCY_BUCKETS,
        )
        shard_faults = Counter(
            "thecloud_volume_shard_faults",
            "Shard blobs found missing or failing their CRC32C, by kind.",
            ["kind"],
            registry=registry,
        )
        self.read_bytes: CounterChild = io_bytes.labels("read")
        self.written_bytes: CounterChild = io_bytes.labels("write")
        self.operations: dict[str, CounterChild] = {op: operations.labels(op) for op in OPERATIONS}
        self.latency: dict[str, HistogramChild] = {op: latency.labels(op) for op in OPERATIONS}
        self.missing_shards: CounterChild = shard_faults.labels("missing")
        self.corrupt_shards: CounterChild = shard_faults.labels("corrupt")
        self.degraded_reads: CounterChild = Counter(
            "thecloud_volume_degraded_reads",
            "Stripe reads that had to reconstruct shards from parity.",
            registry=registry,
        ).labels()
        self.repaired_shards: CounterChild = Counter(
            "thecloud_volume_repaired_shards",
            "Shard blobs rewritten by scrub or rebuild.",
            registry=registry,
        ).labels()
        self.flush_failures: CounterChild = Counter(
            "thecloud_volume_flush_failures",
            "Flushes that failed before committing (the data stays buffered for a retry).",
            registry=registry,
        ).labels()
