"""Interoperability with prometheus-client in both directions.

- `default_collectors()` gives prometheus-client's process, platform and GC collectors, to be
  included in a native registry's scrape with `Registry.include_collectors(...)`.
- `NativeCollector(registry)` is a prometheus-client collector over a native registry, so our
  metrics can be registered into a prometheus-client `CollectorRegistry` (and served by its
  exporters). It reads the registry through its own rendered text, so both paths agree.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from thecloud.dataplane.metrics.registry import REGISTRY, Registry


def default_collectors() -> list[Any]:
    """prometheus-client's default collectors, not registered anywhere yet."""
    # GCCollector insists on registering somewhere: give it a throwaway registry.
    return [
        ProcessCollector(registry=None),
        PlatformCollector(registry=None),
        GCCollector(registry=CollectorRegistry()),
    ]


class NativeCollector:
    """A prometheus-client collector yielding the families of a native registry."""

    def __init__(self, registry: Registry | None = None) -> None:
        self._registry = REGISTRY if registry is None else registry

    def collect(self) -> Iterator[Metric]:
        """The registry's families as prometheus-client metric families."""
        text = self._registry.render(openmetrics=False).decode("utf-8")
        yield from text_string_to_metric_families(text)
