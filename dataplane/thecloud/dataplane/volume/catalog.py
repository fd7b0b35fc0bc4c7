"""Catalog: the store's metadata in LMDB (config, counters, volumes, committed stripe records).

Three named databases: `volume.meta` (the config and the state counters), `volume.names` (volume
name -> VolumeRecord) and `volume.stripes` ((volume id, stripe) -> StripeRecord). LMDB commits
are atomic and, with the options of `open_environment`, durable when `commit` returns: that is
the commit point of every flush.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import lmdb

from thecloud.core.errors import CapacityError, ConflictError, NotFoundError, StateError
from thecloud.core.lmdb_env import open_environment
from thecloud.dataplane.volume.records import (
    StoreConfig,
    StoreState,
    StripeRecord,
    VolumeRecord,
    stripe_key,
    unpack_stripe_key,
)

__all__ = ["Catalog"]

_CONFIG: Final = b"config"
_STATE: Final = b"state"


@contextmanager
def _lmdb_errors(action: str, path: Path) -> Iterator[None]:
    """Maps LMDB failures into the error hierarchy: a full map is a capacity limit."""
    try:
        yield
    except lmdb.MapFullError as exc:
        raise CapacityError(
            f"cannot {action}: the metadata map at {path} is full (open with a larger map_size)"
        ) from exc
    except lmdb.Error as exc:
        raise StateError(f"cannot {action} in {path}: {exc}") from exc


class Catalog:
    """Reads and atomically updates the metadata of one volume store."""

    def __init__(self, path: Path, *, map_size: int) -> None:
        self.path = path
        self._env = open_environment(path, map_size=map_size)
        try:
            with _lmdb_errors("open the metadata databases", path):
                self._meta = self._env.open_db(b"volume.meta")
                self._names = self._env.open_db(b"volume.names")
                self._stripes = self._env.open_db(b"volume.stripes")
        except StateError:
            self._env.close()
            raise

    def close(self) -> None:
        """Closes the environment; the catalog is unusable afterwards."""
        self._env.close()

    def config(self) -> StoreConfig | None:
        """The store's config, or None for a store never initialized."""
        raw = self._get(self._meta, _CONFIG, "read the store config")
        return None if raw is None else StoreConfig.unpack(raw)

    def initialize(self, config: StoreConfig, state: StoreState) -> None:
        """Records a new store's config and initial state."""
        with self._write("initialize the store") as txn:
            txn.put(_CONFIG, config.pack(), db=self._meta)
            txn.put(_STATE, state.pack(), db=self._meta)

    def state(self) -> StoreState:
        """The current counters and flags."""
        raw = self._get(self._meta, _STATE, "read the store state")
        if raw is None:
            raise StateError(f"the volume store at {self.path} has a config but no state")
        return StoreState.unpack(raw)

    def set_state(self, state: StoreState) -> None:
        """Replaces the counters and flags."""
        with self._write("update the store state") as txn:
            txn.put(_STATE, state.pack(), db=self._meta)

    def volume(self, name: str) -> VolumeRecord | None:
        """The record of a volume, or None."""
        raw = self._get(self._names, name.encode(), "read a volume record")
        return None if raw is None else VolumeRecord.unpack(raw)

    def volumes(self) -> list[tuple[str, VolumeRecord]]:
        """Every volume, by name."""
        with _lmdb_errors("list volumes", self.path), self._env.begin(db=self._names) as txn:
            return [(bytes(k).decode(), VolumeRecord.unpack(bytes(v))) for k, v in txn.cursor()]

    def create_volume(self, name: str, size: int, created: float) -> VolumeRecord:
        """Adds a volume with the next id; ConflictError if the name is taken."""
        with self._write("create a volume") as txn:
            if txn.get(name.encode(), db=self._names) is not None:
                raise ConflictError(f"a volume named {name!r} already exists")
            state = StoreState.unpack(txn.get(_STATE, db=self._meta))
            record = VolumeRecord(state.next_volume_id, size, 0, created)
            txn.put(name.encode(), record.pack(), db=self._names)
            next_state = StoreState(state.next_version, state.next_volume_id + 1, state.clean)
            txn.put(_STATE, next_state.pack(), db=self._meta)
        return record

    def drop_volume(self, name: str) -> VolumeRecord:
        """Removes a volume and all its stripe records in one commit; NotFoundError if absent."""
        with self._write("delete a volume") as txn:
            raw = txn.get(name.encode(), db=self._names)
            if raw is None:
                raise NotFoundError(f"no volume named {name!r}")
            record = VolumeRecord.unpack(raw)
            txn.delete(name.encode(), db=self._names)
            cursor = txn.cursor(db=self._stripes)
            cursor.set_range(stripe_key(record.id, 0))
            # delete() moves to the next record; past the last one the key is empty.
            while (key := cursor.key()) and unpack_stripe_key(key)[0] == record.id:
                cursor.delete()
        return record

    def stripe(self, volume: int, stripe: int) -> StripeRecord | None:
        """The committed record of a stripe, or None when the stripe is unallocated."""
        raw = self._get(self._stripes, stripe_key(volume, stripe), "read a stripe record")
        return None if raw is None else StripeRecord.unpack(raw)

    def allocated(self, volume: int, first: int, end: int) -> list[int]:
        """Indices of the allocated stripes of a volume in [first, end)."""
        found: list[int] = []
        with _lmdb_errors("list stripes", self.path), self._env.begin(db=self._stripes) as txn:
            cursor = txn.cursor()
            more = cursor.set_range(stripe_key(volume, first))
            while more:
                owner, stripe = unpack_stripe_key(cursor.key())
                if owner != volume or stripe >= end:
                    break
                found.append(stripe)
                more = cursor.next()
        return found

    def scan(
        self, after: tuple[int, int] | None, limit: int
    ) -> list[tuple[int, int, StripeRecord]]:
        """Up to `limit` stripe records in key order, starting after (volume, stripe)."""
        batch: list[tuple[int, int, StripeRecord]] = []
        with _lmdb_errors("scan stripes", self.path), self._env.begin(db=self._stripes) as txn:
            cursor = txn.cursor()
            more = cursor.first() if after is None else cursor.set_range(stripe_key(*after))
            while more and len(batch) < limit:
                volume, stripe = unpack_stripe_key(cursor.key())
                if (volume, stripe) != after:
                    batch.append((volume, stripe, StripeRecord.unpack(cursor.value())))
                more = cursor.next()
        return batch

    def commit(
        self,
        name: str,
        volume: VolumeRecord,
        changes: Mapping[int, StripeRecord | None],
        next_version: int,
    ) -> None:
        """Applies a flush atomically: stripe records put or deleted, the volume record, the
        version counter. CapacityError means nothing was written; StateError means the commit
        may or may not have become durable.
        """
        with self._write(f"commit a flush of volume {name!r}") as txn:
            for stripe, record in changes.items():
                key = stripe_key(volume.id, stripe)
                if record is None:
                    txn.delete(key, db=self._stripes)
                else:
                    txn.put(key, record.pack(), db=self._stripes)
            txn.put(name.encode(), volume.pack(), db=self._names)
            state = StoreState.unpack(txn.get(_STATE, db=self._meta))
            next_state = StoreState(
                max(state.next_version, next_version), state.next_volume_id, state.clean
            )
            txn.put(_STATE, next_state.pack(), db=self._meta)

    def _get(self, db: Any, key: bytes, action: str) -> bytes | None:
        with _lmdb_errors(action, self.path), self._env.begin(db=db) as txn:
            raw = txn.get(key)
        return None if raw is None else bytes(raw)

    @contextmanager
    def _write(self, action: str) -> Iterator[Any]:
        with _lmdb_errors(action, self.path), self._env.begin(write=True) as txn:
            yield txn
