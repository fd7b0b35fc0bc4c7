"""BackgroundScrubber: runs `VolumeStore.scrub()` periodically on a daemon thread.

Invariants:

1. At most one pass runs at a time, on the scrubber's own thread; a pass holds the store lock
   one stripe at a time (see `scrub`), so clients keep reading and writing while it runs.
2. `stop()` returns only after the thread has finished its current pass and exited.
3. A pass that raises is recorded (`last_error`) and the scrubber keeps its schedule: one bad
   pass must not end self-healing for the life of the process.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from thecloud.core.errors import InvalidArgumentError, TheCloudError
from thecloud.dataplane.volume.scrub import ScrubReport
from thecloud.dataplane.volume.store import VolumeStore

__all__ = ["BackgroundScrubber"]

_log = logging.getLogger(__name__)


class BackgroundScrubber:
    """Scrubs a store every `interval` seconds until stopped; a context manager."""

    def __init__(
        self,
        store: VolumeStore,
        interval: float,
        on_report: Callable[[ScrubReport], None] | None = None,
    ) -> None:
        if not interval > 0:
            raise InvalidArgumentError(f"the scrub interval must be positive, got {interval!r}")
        self._store = store
        self._interval = interval
        self._on_report = on_report
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.passes = 0
        """Passes completed (with or without an error)."""
        self.last_report: ScrubReport | None = None
        self.last_error: BaseException | None = None

    def start(self) -> BackgroundScrubber:
        """Starts the thread (the first pass runs at once); returns self."""
        if self._thread is not None:
            raise InvalidArgumentError("this scrubber was already started")
        self._thread = threading.Thread(target=self._run, name="volume-scrubber", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Asks the thread to stop and waits for it (after at most its current pass)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> BackgroundScrubber:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                report = self._store.scrub()
            except (TheCloudError, OSError) as exc:
                self.last_error = exc
                _log.error("background scrub failed: %s", exc)
            else:
                self.last_report = report
                if not report.healthy:
                    _log.error(
                        "background scrub: %d stripes lost, %d of %d bad shards repaired",
                        len(report.lost_stripes),
                        report.repaired,
                        len(report.problems),
                    )
                if self._on_report is not None:
                    self._on_report(report)
            self.passes += 1
            self._stopping.wait(self._interval)
