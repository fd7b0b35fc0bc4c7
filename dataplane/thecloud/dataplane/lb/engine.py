"""`LoadBalancer`: the Python handle of the native L7 load balancer engine.

The engine (Rust crate thecloud-lb) runs its own threads and never calls back into Python; this
class only hands it configurations and reads its counters.
"""

from __future__ import annotations

import json
from types import TracebackType
from typing import Any, Protocol

from thecloud.core.native import load_native

load_native("thecloud._native", "the native load balancer engine")

from thecloud._native import LoadBalancer as _NativeLoadBalancer  # noqa: E402 - after the check
from thecloud.dataplane.metrics.registry import Registry  # noqa: E402

__all__ = ["LoadBalancer", "NativeConfig"]


class NativeConfig(Protocol):
    """What the engine needs from a configuration: its canonical JSON (`LoadBalancerConfig`)."""

    def to_native(self) -> str:
        """The configuration document of the engine contract."""
        ...


class LoadBalancer:
    """An HTTP/1.1 load balancer: `start()`, `update()`, `drain()`, `stop()`, `stats()`.

    Creating one validates the configuration and opens nothing; `start()` binds the listeners
    (port 0 allowed, see `addresses()`) and starts the engine threads. With `metrics`, the
    engine threads report per-backend and per-route series into that registry.
    """

    def __init__(self, config: NativeConfig, *, metrics: Registry | None = None) -> None:
        self._native = _NativeLoadBalancer(
            config.to_native(), None if metrics is None else metrics.native
        )

    def start(self) -> None:
        """Binds every listener and starts the engine threads; raises if a bind fails."""
        self._native.start()

    def addresses(self) -> dict[str, tuple[str, int]]:
        """Listener name -> the (host, port) it is bound to."""
        return self._native.addresses()

    def update(self, config: NativeConfig) -> None:
        """Swaps the configuration atomically: new requests see it, in-flight ones finish on the
        old one; listeners are added and removed, certificates re-read. On error nothing changes.
        `workers` applies at `start()` only; refused (StateError) while draining."""
        self._native.update(config.to_native())

    def drain(self, timeout: float = 30.0) -> bool:
        """Stops accepting and lets in-flight requests finish; True if all did within `timeout`."""
        return self._native.drain(timeout)

    def stop(self) -> None:
        """Closes every connection and joins the engine threads. Idempotent."""
        self._native.stop()

    def stats(self) -> dict[str, Any]:
        """Connection and request counters, per-pool backend states and per-route counters."""
        stats: dict[str, Any] = json.loads(self._native.stats_json())
        return stats

    def __enter__(self) -> LoadBalancer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
