"""Running the control plane's HTTP server in the foreground until SIGINT or SIGTERM.

Stop-signal rule: from the moment `serve` starts until it returns, SIGINT and SIGTERM mean "stop
gracefully". While uvicorn runs it handles them itself; before that (logging, state, imports) and
after it (uvicorn re-raises the signal it caught once it has shut down, for the handler it found
installed) they go to `_StopRequest`, which only records them. Either way `serve` returns normally
and the process exits with status 0, not with KeyboardInterrupt or death by SIGTERM.
"""

from __future__ import annotations

import functools
import logging
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Final

import uvicorn

from thecloud.control.app import create_app
from thecloud.core.config import LogLevel, Settings
from thecloud.core.identity import ServerIdentity, load_or_create_identity
from thecloud.core.logging import configure_logging
from thecloud.core.version import version

__all__ = ["serve"]

_STOP_SIGNALS: Final = (signal.SIGINT, signal.SIGTERM)

_log = logging.getLogger(__name__)


def _url(settings: Settings) -> str:
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return f"http://{host}:{settings.port}"


class _StopRequest:
    """The stop-signal handler used outside uvicorn's run; see the module docstring."""

    def __init__(self) -> None:
        self.requested = False
        self.server: uvicorn.Server | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
        if self.server is not None:
            self.server.should_exit = True

    def attach(self, server: uvicorn.Server) -> None:
        """Make `server` stop, or never start serving, if a stop was or will be requested."""
        self.server = server
        server.should_exit = server.should_exit or self.requested


@contextmanager
def _stop_signals_to(handler: _StopRequest) -> Iterator[None]:
    # Python only lets the main thread set signal handlers; elsewhere the caller owns signals.
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, handler) for signum in _STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


class _ControlServer(uvicorn.Server):
    """uvicorn's server, announcing the URL once the listening socket is actually bound."""

    def __init__(self, config: uvicorn.Config, settings: Settings, identity: ServerIdentity):
        super().__init__(config)
        self._settings = settings
        self._identity = identity

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Bind and start accepting, then log the one line operators look for."""
        await super().startup(sockets)
        if self.started and not self.should_exit:
            _log.info(
                "serving on %s",
                _url(self._settings),
                extra={"server_id": self._identity.server_id},
            )


def _uvicorn_log_level(level: LogLevel) -> LogLevel:
    # uvicorn's info lines (process started, startup complete, ...) repeat what our own lines say.
    if level == "info":
        return "warning"
    return level


def serve(settings: Settings) -> None:
    """Serve the control plane API as `settings` say, in the foreground, until SIGINT or SIGTERM.

    Returns normally after a graceful stop. Raises StateError if the state directory cannot be
    used. If the address cannot be bound, uvicorn logs why and raises SystemExit with its
    startup-failure status (non-zero).
    """
    stop = _StopRequest()
    with _stop_signals_to(stop):
        configure_logging(settings.log_level, settings.log_format)
        identity = load_or_create_identity(settings.state_dir)
        # Imported here, not at the top: it loads the native engine, which the CLI's other
        # commands and this module's importers (tests, tooling) should not pay for.
        from thecloud.dataplane import metrics

        registry = metrics.REGISTRY
        if settings.metrics_shm is not None and registry.path != settings.metrics_shm:
            registry = metrics.Registry(settings.metrics_shm)
        registry.include_collectors(*metrics.default_collectors())
        server_info = metrics.Gauge(
            "thecloud_server_info",
            "The server's identity.",
            ["server_id", "version"],
            registry=registry,
        )
        server_info.labels(identity.server_id, version()).set(1)
        expose = functools.partial(metrics.expose, registry=registry)
        # Imported here for the same reason as the metrics: only serving needs the API stack.
        from thecloud.control.api import StoreBackedApi
        from thecloud.control.lb.metrics import LoadBalancerCollector

        api = StoreBackedApi(settings.state_dir, settings.etcd_endpoint)
        # The load balancers' counters join every scrape, read from the engines as it happens.
        registry.include_collectors(LoadBalancerCollector(api.load_balancer_stats))
        app = create_app(settings, identity, registry_expose=expose, api=api)
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            loop="uvloop",
            http="httptools",
            ws="none",
            lifespan="on",
            access_log=False,
            # None: records go through the root handler configure_logging installed, so uvicorn's
            # lines get the same format and the same secret redaction as ours.
            log_config=None,
            log_level=_uvicorn_log_level(settings.log_level),
        )
        server = _ControlServer(config, settings, identity)
        stop.attach(server)
        server.run()
    _log.info("stopped", extra={"server_id": identity.server_id})
