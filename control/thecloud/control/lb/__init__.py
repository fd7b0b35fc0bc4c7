"""Load balancers in the control plane: the resource (desired state, quotas, operations) and the
reconciler that runs the native engines of `thecloud.dataplane.lb` to match it."""

from __future__ import annotations

from thecloud.control.lb.engine import (
    ConfigParser,
    Engine,
    EngineFactory,
    native_config_parser,
    native_engine,
)
from thecloud.control.lb.reconciler import LoadBalancerReconciler
from thecloud.control.lb.records import LoadBalancerRecord, LoadBalancerStatus
from thecloud.control.lb.service import LoadBalancerService, LoadBalancerView

__all__ = [
    "ConfigParser",
    "Engine",
    "EngineFactory",
    "LoadBalancerReconciler",
    "LoadBalancerRecord",
    "LoadBalancerService",
    "LoadBalancerStatus",
    "LoadBalancerView",
    "native_config_parser",
    "native_engine",
]
