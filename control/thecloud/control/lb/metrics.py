"""The running load balancers' counters as Prometheus families, read from the engines on scrape.

Registered with the server's metric registry (`include_collectors`), so `/metrics` shows every
load balancer this process runs: connections and requests per load balancer (label `lb`) and
each backend's health. Nothing is kept in between scrapes; the engines own the counts. The names
stay clear of the engine's own families (`thecloud_lb_backend_requests_total`...), which it
writes when handed a registry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

__all__ = ["LoadBalancerCollector"]

#: Returns the stats of every running load balancer, by id.
StatsByBalancer = Callable[[], Mapping[str, Mapping[str, Any]]]


class LoadBalancerCollector:
    """A prometheus-client collector over the engines' `stats()`."""

    def __init__(self, stats: StatsByBalancer) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Any]:
        """Yield the families (called by the registry on each scrape)."""
        active = GaugeMetricFamily(
            "thecloud_lb_connections_active", "Open client connections.", labels=["lb"]
        )
        connections = CounterMetricFamily(
            "thecloud_lb_connections", "Client connections accepted.", labels=["lb"]
        )
        requests = CounterMetricFamily("thecloud_lb_requests", "Requests proxied.", labels=["lb"])
        backend_up = GaugeMetricFamily(
            "thecloud_lb_backend_up",
            "1 if the backend is healthy and not ejected.",
            labels=["lb", "pool", "backend"],
        )
        for lb_id, stats in self._stats().items():
            active.add_metric([lb_id], float(stats.get("connections_active", 0)))
            connections.add_metric([lb_id], float(stats.get("connections_total", 0)))
            requests.add_metric([lb_id], float(stats.get("requests_total", 0)))
            for pool, detail in stats.get("pools", {}).items():
                for backend in detail.get("backends", []):
                    labels = [lb_id, pool, str(backend.get("address", ""))]
                    healthy = backend.get("up", False) and not backend.get("ejected", False)
                    backend_up.add_metric(labels, 1.0 if healthy else 0.0)
        yield from (active, connections, requests, backend_up)
