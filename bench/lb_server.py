"""Our load balancer alone in a process, so the bench reads its CPU time from /proc/PID/stat.

Run as ``python -m bench.lb_server CONFIG_JSON READY_JSON``: starts a `LoadBalancer` from the
configuration file, writes ``{listener: [host, port]}`` to READY_JSON once listening, and runs
until SIGTERM or SIGINT, then stops the load balancer and exits 0.
"""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Sequence
from pathlib import Path


def main(argv: Sequence[str]) -> int:
    """Serve until signalled."""
    from thecloud.dataplane.lb import LoadBalancer, LoadBalancerConfig

    config_path, ready_path = argv
    config = LoadBalancerConfig.from_dict(json.loads(Path(config_path).read_text()))
    stopping = {signal.SIGTERM, signal.SIGINT}
    # Blocked before the engine threads exist, so they inherit the mask and sigwait() below is
    # the only receiver: no handler, no polling wake-ups in the measured process.
    signal.pthread_sigmask(signal.SIG_BLOCK, stopping)
    balancer = LoadBalancer(config)
    balancer.start()
    try:
        addresses = {name: list(address) for name, address in balancer.addresses().items()}
        partial = Path(f"{ready_path}.partial")
        partial.write_text(json.dumps(addresses))
        partial.rename(ready_path)  # the bench never reads a half-written file
        signal.sigwait(stopping)
    finally:
        balancer.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
