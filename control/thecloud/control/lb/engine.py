"""What the reconciler needs of a load balancer engine, and the native one behind it.

The contract is the data plane's `thecloud.dataplane.lb`: `LoadBalancerConfig.from_dict(d)`
validates a configuration (InvalidArgumentError naming the field), `LoadBalancer(cfg)` with
`start()`, `update(cfg)`, `stop()`, `stats()` and `addresses()` runs it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["ConfigParser", "Engine", "EngineFactory", "native_config_parser", "native_engine"]


class Engine(Protocol):
    """A running (or startable) load balancer."""

    def start(self) -> None:
        """Bind the listeners and start serving; raises if a bind fails."""
        ...

    def update(self, config: Any) -> None:
        """Swap to `config` atomically; on error nothing changes."""
        ...

    def stop(self) -> None:
        """Stop serving; idempotent."""
        ...

    def stats(self) -> dict[str, Any]:
        """Live counters."""
        ...

    def addresses(self) -> dict[str, tuple[str, int]]:
        """Listener name -> bound (host, port)."""
        ...


#: Builds an engine (not yet started) from a parsed configuration.
EngineFactory = Callable[[Any], Engine]
#: Parses and validates a configuration document; InvalidArgumentError naming the bad field.
ConfigParser = Callable[[dict[str, Any]], Any]


def native_config_parser() -> ConfigParser:
    """Return `LoadBalancerConfig.from_dict` of the data plane (pure Python, no native code)."""
    from thecloud.dataplane.lb import LoadBalancerConfig

    parse: ConfigParser = LoadBalancerConfig.from_dict
    return parse


def native_engine() -> EngineFactory:
    """Return the native engine's constructor; NativeModuleError if it cannot be loaded."""
    from thecloud.dataplane.lb.engine import LoadBalancer

    factory: EngineFactory = LoadBalancer
    return factory
