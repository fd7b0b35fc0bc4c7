"""Serving a registry: content negotiation and the exposition body for a scrape."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from prometheus_client import generate_latest as generate_prometheus
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from thecloud.dataplane.metrics.registry import REGISTRY, Registry

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
_EOF = b"# EOF\n"


def wants_openmetrics(accept_header: str | None) -> bool:
    """Whether the scraper's Accept header asks for OpenMetrics (as Prometheus does by default)."""
    if not accept_header:
        return False
    return any(
        part.split(";", 1)[0].strip().lower() == "application/openmetrics-text"
        for part in accept_header.split(",")
    )


def expose(accept_header: str | None, registry: Registry | None = None) -> tuple[bytes, str]:
    """The body and Content-Type answering a scrape with this Accept header."""
    registry = REGISTRY if registry is None else registry
    openmetrics = wants_openmetrics(accept_header)
    body = registry.render(openmetrics=openmetrics)
    if registry.extra_collectors:
        bridged = CollectorRegistry(auto_describe=False)
        for collector in registry.extra_collectors:
            bridged.register(collector)
        if openmetrics:
            # Both bodies end in "# EOF"; only the last one may.
            openmetrics_text: bytes = generate_openmetrics(bridged)  # type: ignore[no-untyped-call]
            body = body[: -len(_EOF)] + openmetrics_text
        else:
            body += generate_prometheus(bridged)
    return body, OPENMETRICS_CONTENT_TYPE if openmetrics else PROMETHEUS_CONTENT_TYPE
