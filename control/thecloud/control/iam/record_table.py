"""Named records in the state store, unique by name within a scope, kept by one helper.

Each record lives at `iam/<kind>/<scope...>/<id>` and its name at
`iam/names/<kind>/<scope...>/<name>` (value: the id). Both are written in one transaction with
`expect_version=0`, so two concurrent creates of the same name cannot both succeed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final, Generic, Protocol, TypeVar

from thecloud.control.iam.errors import PreconditionFailedError
from thecloud.control.iam.records import decode_record, encode_record
from thecloud.core.errors import ConflictError
from thecloud.core.state import Delete, Put, StateStore, Txn
from thecloud.core.state.model import validate_limit
from thecloud.core.state.scoped import list_scoped

__all__ = ["NamedRecord", "RecordTable"]

#: Decoded records one table keeps by their stored bytes; emptied when full, never grown.
_DECODED_MAX: Final = 4096


class NamedRecord(Protocol):
    """What the table needs of a record: an id and a name. Records are immutable (frozen
    dataclasses of plain values), so the table shares one decoded record between readers."""

    @property
    def id(self) -> str:
        """The record's id."""
        ...

    @property
    def name(self) -> str:
        """The record's name, unique within its scope."""
        ...


R = TypeVar("R", bound=NamedRecord)


class RecordTable(Generic[R]):
    """Stores records of one kind, unique by name within a scope (a tenant, or global)."""

    def __init__(self, store: StateStore, kind: str, factory: Callable[..., R]) -> None:
        self._store = store
        self._kind = kind
        self._factory = factory
        self._decoded: dict[bytes, R] = {}

    def record_prefix(self, scope: Sequence[str]) -> str:
        """Return the key prefix under which the records of `scope` live."""
        return "/".join(["iam", self._kind, *scope, ""])

    def _name_key(self, scope: Sequence[str], name: str) -> str:
        return "/".join(["iam", "names", self._kind, *scope, name])

    def insert_steps(self, scope: Sequence[str], record: R) -> tuple[Put, Put]:
        """Return the steps storing a new record and claiming its name (to commit with others).

        They fail with ConflictError if the name is taken in `scope` when committed.
        """
        return (
            Put(self.record_prefix(scope) + record.id, encode_record(record), expect_version=0),
            Put(self._name_key(scope, record.name), record.id.encode(), expect_version=0),
        )

    async def insert(self, scope: Sequence[str], record: R) -> R:
        """Store a new record; ConflictError if its name is taken in `scope`."""
        try:
            await self._store.commit(Txn(self.insert_steps(scope, record)))
        except ConflictError:
            raise ConflictError(f"a {self._kind} named {record.name!r} already exists") from None
        return record

    async def get(self, scope: Sequence[str], record_id: str) -> R | None:
        """Return the record `record_id` of `scope`, or None."""
        found = await self.get_versioned(scope, record_id)
        return None if found is None else found[0]

    async def get_versioned(self, scope: Sequence[str], record_id: str) -> tuple[R, int] | None:
        """Return the record `record_id` of `scope` and its version (its ETag), or None."""
        entry = await self._store.get(self.record_prefix(scope) + record_id)
        return None if entry is None else (self._decode(entry.value), entry.version)

    def _decode(self, raw: bytes) -> R:
        # Records are immutable and decoding depends on the bytes alone, so equal bytes may share
        # one record: reads of a hot record skip parsing JSON. Keyed by content, so nothing can go
        # stale.
        found = self._decoded.get(raw)
        if found is None:
            found = decode_record(raw, self._factory)
            if len(self._decoded) >= _DECODED_MAX:
                self._decoded.clear()
            self._decoded[raw] = found
        return found

    async def get_by_name(self, scope: Sequence[str], name: str) -> R | None:
        """Return the record called `name` in `scope`, or None."""
        entry = await self._store.get(self._name_key(scope, name))
        return None if entry is None else await self.get(scope, entry.value.decode())

    async def list(
        self, scope: Sequence[str], *, limit: int, start_after: str | None = None
    ) -> tuple[list[R], str | None]:
        """Return up to `limit` records of `scope` in id order, and the id to continue after."""
        validate_limit(limit)
        prefix = self.record_prefix(scope)
        page = await list_scoped(self._store, prefix, limit=limit, start_after=start_after)
        records = [decode_record(entry.value, self._factory) for entry in page.entries]
        # Hand out ids, not store keys, so callers never depend on the key layout.
        return records, None if page.next_key is None else records[-1].id

    async def has_any(self, scope: Sequence[str]) -> bool:
        """Return whether `scope` holds at least one record."""
        page = await self._store.list(self.record_prefix(scope), limit=1)
        return bool(page.entries)

    async def remove(
        self, scope: Sequence[str], record_id: str, *, expect_version: int | None = None
    ) -> bool:
        """Delete the record `record_id` and its name; return whether it existed.

        PreconditionFailedError if `expect_version` is given and the record is at another one.
        """
        key = self.record_prefix(scope) + record_id
        entry = await self._store.get(key)
        if entry is None:
            return False
        if expect_version is not None and expect_version != entry.version:
            raise PreconditionFailedError(
                f"{self._kind} {record_id!r} is at version {entry.version}, not {expect_version}"
            )
        record = decode_record(entry.value, self._factory)
        # The version check makes a concurrent change to the record fail this delete cleanly.
        try:
            await self._store.commit(
                Txn(
                    (
                        Delete(key, expect_version=entry.version),
                        Delete(self._name_key(scope, record.name)),
                    )
                )
            )
        except ConflictError:
            if expect_version is None:
                raise
            raise PreconditionFailedError(f"{self._kind} {record_id!r} changed meanwhile") from None
        return True
