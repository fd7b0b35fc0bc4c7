"""Keys of up to 1 KiB in LMDB, whose own keys stop at 511 bytes, without losing key order.

Each state key is stored under its first 511 bytes (its head) in a bucket: a list of records
sorted by the rest of the key (its tail). Keys shorter than 511 bytes have an empty tail and sit
alone in their bucket. Bucket order is key order: two keys with different heads compare as their
heads do (a head shorter than 511 bytes is the whole key), and keys sharing a head compare as
their tails do, which is the order inside the bucket.
"""

from __future__ import annotations

import bisect
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

import lmdb

from thecloud.core.errors import StateError

__all__ = ["HEAD_BYTES", "Record", "delete_record", "get_record", "put_record", "scan_records"]

#: LMDB's compiled-in key limit (MDB_MAXKEYSIZE).
HEAD_BYTES: Final = 511
# Record header: tail length, version, mod_revision, value length; then tail and value bytes.
_HEADER: Final = struct.Struct(">HQQI")


@dataclass(frozen=True, slots=True)
class Record:
    """One stored key: its full UTF-8 bytes, version, last-change revision and value."""

    key: bytes
    version: int
    mod_revision: int
    value: bytes


def _decode_bucket(head: bytes, raw: bytes) -> list[Record]:
    records = []
    offset = 0
    try:
        while offset < len(raw):
            tail_length, version, mod_revision, value_length = _HEADER.unpack_from(raw, offset)
            offset += _HEADER.size
            tail = raw[offset : offset + tail_length]
            offset += tail_length
            value = raw[offset : offset + value_length]
            offset += value_length
            records.append(Record(head + tail, version, mod_revision, value))
    except struct.error as exc:
        raise StateError(f"stored bucket {head[:40]!r} is corrupt: {exc}") from exc
    if offset != len(raw):
        raise StateError(f"stored bucket {head[:40]!r} is truncated")
    return records


def _encode_bucket(records: list[Record]) -> bytes:
    parts = []
    for record in records:
        tail = record.key[HEAD_BYTES:]
        parts.append(
            _HEADER.pack(len(tail), record.version, record.mod_revision, len(record.value))
        )
        parts.append(tail)
        parts.append(record.value)
    return b"".join(parts)


def _bucket(txn: lmdb.Transaction, db: lmdb._Database, head: bytes) -> list[Record]:
    raw = txn.get(head, db=db)
    return [] if raw is None else _decode_bucket(head, bytes(raw))


def get_record(txn: lmdb.Transaction, db: lmdb._Database, key: bytes) -> Record | None:
    """Return the record of `key`, or None."""
    for record in _bucket(txn, db, key[:HEAD_BYTES]):
        if record.key == key:
            return record
    return None


def put_record(txn: lmdb.Transaction, db: lmdb._Database, record: Record) -> None:
    """Store `record`, replacing any record of the same key."""
    head = record.key[:HEAD_BYTES]
    records = [other for other in _bucket(txn, db, head) if other.key != record.key]
    bisect.insort(records, record, key=lambda item: item.key)
    txn.put(head, _encode_bucket(records), db=db)


def delete_record(txn: lmdb.Transaction, db: lmdb._Database, key: bytes) -> None:
    """Remove the record of `key`, if any."""
    head = key[:HEAD_BYTES]
    records = [other for other in _bucket(txn, db, head) if other.key != key]
    if records:
        txn.put(head, _encode_bucket(records), db=db)
    else:
        txn.delete(head, db=db)


def scan_records(
    txn: lmdb.Transaction, db: lmdb._Database, start: bytes, prefix: bytes
) -> Iterator[Record]:
    """Yield, in key order, the records of keys >= `start` that begin with `prefix`.

    `start` must itself be >= `prefix`, so the first key outside the prefix ends the scan.
    """
    cursor = txn.cursor(db=db)
    found = cursor.set_range(start[:HEAD_BYTES])
    while found:
        head = bytes(cursor.key())
        for record in _decode_bucket(head, bytes(cursor.value())):
            if record.key < start:
                continue
            if not record.key.startswith(prefix):
                return
            yield record
        found = cursor.next()
