"""Versioned, watchable key-value state for the control plane, embedded (LMDB) or clustered (etcd).

Callers program against `StateStore`; `LmdbStateStore` is the default for a single machine and
`EtcdStateStore` serves a cluster. Both pass the same conformance suite.
"""

from __future__ import annotations

from thecloud.core.state.compaction import CompactionPolicy, Compactor
from thecloud.core.state.etcd_store import EtcdStateStore
from thecloud.core.state.lmdb_store import LmdbStateStore
from thecloud.core.state.model import (
    MAX_KEY_BYTES,
    MAX_PAGE_LIMIT,
    MAX_VALUE_BYTES,
    Applied,
    Check,
    CompactedError,
    Delete,
    Entry,
    Event,
    EventKind,
    Operation,
    Page,
    Put,
    Txn,
)
from thecloud.core.state.protocol import StateStore
from thecloud.core.state.schema import SCHEMA_VERSION

__all__ = [
    "MAX_KEY_BYTES",
    "MAX_PAGE_LIMIT",
    "MAX_VALUE_BYTES",
    "SCHEMA_VERSION",
    "Applied",
    "Check",
    "CompactedError",
    "CompactionPolicy",
    "Compactor",
    "Delete",
    "EtcdStateStore",
    "Entry",
    "Event",
    "EventKind",
    "LmdbStateStore",
    "Operation",
    "Page",
    "Put",
    "StateStore",
    "Txn",
]
