"""The clustered state store: etcd v3, reached through its JSON gateway.

The store lives under a namespace (default "thecloud/"): data keys under `<namespace>data/`, the
schema version at `<namespace>meta/schema_version`. etcd's per-key `version` and `mod_revision`
are the protocol's, and its revisions are store-wide; writes of other namespaces in the same
cluster advance them too, which the protocol allows (revisions only grow).

Invariants:
1. Every write is one etcd txn: the version conditions are its compares, so a failed condition
   writes nothing; etcd acknowledges only after a quorum committed it to disk.
2. A failed txn reads back the compared keys in the same txn, so ConflictError names the actual
   version without a second, racy read.
3. A watch is one gateway stream; on close() every open watch ends before the connections close.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from typing import Any, Self

from thecloud.core.errors import ConflictError, InvalidArgumentError, StateError
from thecloud.core.state.etcd_gateway import (
    EtcdGateway,
    EtcdRequestError,
    JsonObject,
    b64,
    prefix_end,
    unb64,
)
from thecloud.core.state.model import (
    Applied,
    Check,
    CompactedError,
    Delete,
    Entry,
    Event,
    EventKind,
    Page,
    Put,
    Txn,
    validate_key,
    validate_limit,
    validate_prefix,
)
from thecloud.core.state.schema import SCHEMA_VERSION, check_schema_version, parse_schema_version
from thecloud.core.state.scoped import ClosingOnExit

__all__ = ["EtcdStateStore"]

_GRPC_INVALID_ARGUMENT = 3
_GRPC_OUT_OF_RANGE = 11
# Aliases at module level: inside the class, `list` names the StateStore method.
_Steps = list[Entry | bool | None]
_Events = list[Event]
_Json = list[JsonObject]


class EtcdStateStore(ClosingOnExit):
    """StateStore on an etcd cluster; open with `await EtcdStateStore.open(endpoint)`."""

    def __init__(self, gateway: EtcdGateway, endpoint: str, namespace: str) -> None:
        """Wrap a gateway; use `open`, which also checks the schema version."""
        raw_namespace = validate_prefix(namespace)
        self._gateway = gateway
        self._where = f"{endpoint} namespace {namespace!r}"
        self._data = raw_namespace + b"data/"
        self._schema_key = raw_namespace + b"meta/schema_version"
        self._closing: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._watches: set[asyncio.Task[Any]] = set()

    @classmethod
    async def open(
        cls,
        endpoint: str,
        *,
        namespace: str = "thecloud/",
        schema_version: int = SCHEMA_VERSION,
        timeout: float = 10.0,
    ) -> Self:
        """Connect to etcd at `endpoint` (a client URL) and check or record the schema version."""
        gateway = EtcdGateway(endpoint, timeout=timeout)
        try:
            store = cls(gateway, endpoint, namespace)
            await store._record_schema(schema_version)
        except BaseException:
            await gateway.close()
            raise
        return store

    async def _record_schema(self, code_version: int) -> None:
        key = b64(self._schema_key)
        value = b64(str(code_version).encode("ascii"))
        answer = await self._gateway.call(
            "/v3/kv/txn",
            {
                "compare": [{"key": key, "target": "VERSION", "result": "EQUAL", "version": "0"}],
                "success": [{"request_put": {"key": key, "value": value}}],
                "failure": [{"request_range": {"key": key}}],
            },
        )
        if answer.get("succeeded"):
            return
        kvs = answer["responses"][0]["response_range"].get("kvs", [])
        stored = parse_schema_version(unb64(kvs[0].get("value")), self._where) if kvs else None
        check_schema_version(stored, code_version, self._where)

    async def close(self) -> None:
        """End every watch and close the connections."""
        if self._closing.done():
            return
        self._closing.set_result(None)
        # Watches notice `_closing` and cancel their stream reads; wait until they have.
        while self._watches:
            await asyncio.wait(set(self._watches))
        await self._gateway.close()

    async def get(self, key: str) -> Entry | None:
        """Return the entry at `key`, or None."""
        raw_key = self._data + validate_key(key)
        answer = await self._call("/v3/kv/range", {"key": b64(raw_key)})
        kvs = answer.get("kvs", [])
        return self._entry(kvs[0]) if kvs else None

    async def put(self, key: str, value: bytes, *, expect_version: int | None = None) -> Entry:
        """Write `value` at `key` if its version is `expect_version`; return the new entry."""
        _, results = await self._commit(Txn((Put(key, value, expect_version),)))
        entry = results[0]
        if not isinstance(entry, Entry):
            raise StateError(f"etcd {self._where} did not answer the put of {key!r}")
        return entry

    async def delete(self, key: str, *, expect_version: int | None = None) -> bool:
        """Remove `key` if its version is `expect_version`; return whether it existed."""
        _, results = await self._commit(Txn((Delete(key, expect_version),)))
        return bool(results[0])

    async def commit(self, txn: Txn) -> int:
        """Apply every step of `txn` or none; return the store revision after it."""
        revision, _ = await self._commit(txn)
        return revision

    async def apply(self, txn: Txn) -> Applied:
        """Apply every step of `txn` or none; return the revision and each step's result."""
        revision, results = await self._commit(txn)
        return Applied(revision, tuple(results))

    async def list(self, prefix: str, *, limit: int, start_after: str | None = None) -> Page:
        """Return up to `limit` entries under `prefix` after `start_after`, in key order."""
        raw_prefix = self._data + validate_prefix(prefix)
        validate_limit(limit)
        start = raw_prefix
        if start_after is not None:
            start = max(start, self._data + validate_key(start_after) + b"\x00")
        answer = await self._call(
            "/v3/kv/range",
            {"key": b64(start), "range_end": b64(prefix_end(raw_prefix)), "limit": str(limit)},
        )
        entries = tuple(self._entry(kv) for kv in answer.get("kvs", []))
        more = bool(answer.get("more")) and bool(entries)
        return Page(entries=entries, next_key=entries[-1].key if more else None)

    async def revision(self) -> int:
        """Return the cluster's current revision."""
        answer = await self._call("/v3/kv/range", {"key": b64(self._schema_key)})
        return int(answer["header"]["revision"])

    async def schema_version(self) -> int:
        """Return the schema version recorded in the namespace."""
        answer = await self._call("/v3/kv/range", {"key": b64(self._schema_key)})
        kvs = answer.get("kvs", [])
        if not kvs:
            raise StateError(f"state store {self._where} has no schema version")
        return parse_schema_version(unb64(kvs[0].get("value")), self._where)

    async def compact(self, revision: int) -> None:
        """Compact the cluster's history before `revision` (a no-op if already past it)."""
        if isinstance(revision, bool) or not isinstance(revision, int) or revision < 1:
            raise InvalidArgumentError(f"revision must be an int >= 1, not {revision!r}")
        try:
            # physical: answer once the old revisions are gone, not merely scheduled for removal.
            await self._call("/v3/kv/compaction", {"revision": str(revision), "physical": True})
        except EtcdRequestError as exc:
            if exc.code != _GRPC_OUT_OF_RANGE:
                raise
            if "future revision" in exc.message:
                raise InvalidArgumentError(f"cannot compact to future revision {revision}") from exc
            # "required revision has been compacted": history is already shorter than asked.

    async def watch(
        self, prefix: str, *, start_revision: int | None = None
    ) -> AsyncGenerator[Event, None]:
        """Yield changes under `prefix` from `start_revision` (default: after now), in order."""
        raw_prefix = self._data + validate_prefix(prefix)
        if start_revision is not None and (
            isinstance(start_revision, bool) or not isinstance(start_revision, int)
        ):
            raise InvalidArgumentError(f"start_revision must be an int, not {start_revision!r}")
        if self._closing.done():
            return
        request: JsonObject = {"key": b64(raw_prefix), "range_end": b64(prefix_end(raw_prefix))}
        if start_revision is not None and start_revision > 0:
            request["start_revision"] = str(start_revision)
        messages = self._gateway.stream("/v3/watch", {"create_request": request})
        try:
            while True:
                reading = asyncio.ensure_future(anext(messages))
                self._watches.add(reading)
                try:
                    waiting: list[asyncio.Future[Any]] = [reading, self._closing]
                    await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    if not reading.done():
                        reading.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await reading
                    self._watches.discard(reading)
                if reading.cancelled():
                    return
                for event in self._events(reading.result()):
                    yield event
        finally:
            await messages.aclose()

    def _events(self, result: JsonObject) -> _Events:
        if result.get("canceled"):
            compacted = int(result.get("compact_revision", 0))
            if compacted:
                raise CompactedError(
                    f"revisions before {compacted} of {self._where} were compacted",
                    compact_revision=compacted,
                )
            reason = result.get("cancel_reason", "no reason given")
            raise StateError(f"etcd {self._where} canceled a watch: {reason}")
        events: _Events = []
        for raw in result.get("events", []):
            kv = raw["kv"]
            deleted = raw.get("type") == "DELETE"
            events.append(
                Event(
                    kind=EventKind.DELETE if deleted else EventKind.PUT,
                    key=self._user_key(kv),
                    value=b"" if deleted else unb64(kv.get("value")),
                    version=0 if deleted else int(kv.get("version", 0)),
                    revision=int(kv.get("mod_revision", 0)),
                )
            )
        return events

    async def _commit(self, txn: Txn) -> tuple[int, _Steps]:
        compare: _Json = []
        success: _Json = []
        failure: _Json = []
        for op in txn.ops:
            key = b64(self._data + op.key.encode("utf-8"))
            if op.expect_version is not None:
                expected = str(op.expect_version)
                compare.append(
                    {"key": key, "target": "VERSION", "result": "EQUAL", "version": expected}
                )
                failure.append({"request_range": {"key": key}})
            if isinstance(op, Put):
                success.append(
                    {"request_put": {"key": key, "value": b64(op.value), "prev_kv": True}}
                )
            elif isinstance(op, Delete):
                success.append({"request_delete_range": {"key": key}})
        answer = await self._call(
            "/v3/kv/txn", {"compare": compare, "success": success, "failure": failure}
        )
        responses = answer.get("responses", [])
        if not answer.get("succeeded"):
            raise self._conflict(txn, responses)
        revision = int(answer["header"]["revision"])
        results: _Steps = []
        answers = iter(responses)
        for op in txn.ops:
            if isinstance(op, Check):
                results.append(None)
            elif isinstance(op, Put):
                previous = next(answers)["response_put"].get("prev_kv")
                version = int(previous.get("version", 0)) + 1 if previous else 1
                results.append(Entry(op.key, op.value, version, revision))
            else:
                results.append(int(next(answers)["response_delete_range"].get("deleted", 0)) > 0)
        return revision, results

    def _conflict(self, txn: Txn, responses: _Json) -> ConflictError:
        checked = [op for op in txn.ops if op.expect_version is not None]
        for op, response in zip(checked, responses, strict=True):
            kvs = response["response_range"].get("kvs", [])
            version = int(kvs[0].get("version", 0)) if kvs else 0
            if version != op.expect_version:
                return ConflictError(
                    f"key {op.key!r} is at version {version}, not {op.expect_version}"
                )
        # The read-back sees the state the compares failed against, so one differs; be safe.
        return ConflictError("a version condition of the transaction failed")

    async def _call(self, path: str, body: JsonObject) -> JsonObject:
        if self._closing.done():
            raise StateError("the state store is closed")
        try:
            return await self._gateway.call(path, body)
        except EtcdRequestError as exc:
            # INVALID_ARGUMENT: a request etcd's limits refuse (e.g. more than --max-txn-ops).
            if exc.code == _GRPC_INVALID_ARGUMENT:
                raise InvalidArgumentError(str(exc)) from exc
            raise

    def _entry(self, kv: JsonObject) -> Entry:
        return Entry(
            key=self._user_key(kv),
            value=unb64(kv.get("value")),
            version=int(kv.get("version", 0)),
            mod_revision=int(kv.get("mod_revision", 0)),
        )

    def _user_key(self, kv: JsonObject) -> str:
        return unb64(kv.get("key"))[len(self._data) :].decode("utf-8")
