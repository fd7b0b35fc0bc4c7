"""The metadata records a store keeps in LMDB, and their byte encodings.

Stripe records are packed binary (there is one per allocated stripe, so size matters); the few
per-store and per-volume records are JSON so an operator can read them with `mdb_dump`.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Final, TypeVar

from thecloud.core.errors import StateError
from thecloud.dataplane.volume.domain import ShardKey

__all__ = [
    "FORMAT_VERSION",
    "StoreConfig",
    "StoreState",
    "StripeRecord",
    "VolumeRecord",
    "stripe_key",
    "unpack_stripe_key",
]

#: Bumped when an encoding changes incompatibly; a store of another format is refused.
FORMAT_VERSION: Final = 1
# Big-endian so LMDB's byte order is (volume, stripe) order and range scans are cheap.
_STRIPE_KEY: Final = struct.Struct(">QQ")
_STRIPE_HEAD: Final = struct.Struct("<QI")
T = TypeVar("T")


def stripe_key(volume: int, stripe: int) -> bytes:
    """The LMDB key of a stripe record."""
    return _STRIPE_KEY.pack(volume, stripe)


def unpack_stripe_key(key: bytes) -> tuple[int, int]:
    """(volume, stripe) of a stripe record's key."""
    volume, stripe = _STRIPE_KEY.unpack(key)
    return int(volume), int(stripe)


@dataclass(frozen=True, slots=True)
class StripeRecord:
    """The committed version of one stripe: where its shards are and what they must hash to."""

    version: int
    """Names the stripe's blobs; unique among every blob the store ever wrote."""
    shard_size: int
    """Bytes per shard blob."""
    domains: tuple[int, ...]
    """Domain index of each shard, k data then m parity."""
    crcs: tuple[int, ...]
    """CRC32C of each shard blob."""

    def key(self, volume: int, stripe: int, shard: int) -> ShardKey:
        """The blob key of one of this version's shards."""
        return ShardKey(volume, stripe, self.version, shard)

    def pack(self) -> bytes:
        """The record as stored: version, shard size, then domains and CRCs."""
        width = len(self.domains)
        return _STRIPE_HEAD.pack(self.version, self.shard_size) + struct.pack(
            f"<{width}H{width}I", *self.domains, *self.crcs
        )

    @classmethod
    def unpack(cls, data: bytes) -> StripeRecord:
        """Decodes `pack()`'s output; StateError if it is not a stripe record."""
        width, remainder = divmod(len(data) - _STRIPE_HEAD.size, 6)
        if width < 2 or remainder:
            raise StateError(f"stripe record of {len(data)} bytes is malformed")
        version, shard_size = _STRIPE_HEAD.unpack_from(data)
        fields = struct.unpack_from(f"<{width}H{width}I", data, _STRIPE_HEAD.size)
        return cls(int(version), int(shard_size), tuple(fields[:width]), tuple(fields[width:]))


@dataclass(frozen=True, slots=True)
class VolumeRecord:
    """A volume's identity and size; its name is the LMDB key."""

    id: int
    """Numeric id, used in blob names; never reused after the volume is deleted."""
    size: int
    """Bytes the volume presents."""
    allocated: int
    """Stripes that hold data (the rest read as zeros and cost nothing)."""
    created: float
    """Creation time, seconds since the Unix epoch."""

    def pack(self) -> bytes:
        """The record as stored (JSON)."""
        return _dump(asdict(self))

    @classmethod
    def unpack(cls, data: bytes) -> VolumeRecord:
        """Decodes `pack()`'s output."""
        return _decode(
            data,
            "volume record",
            lambda f: cls(int(f["id"]), int(f["size"]), int(f["allocated"]), float(f["created"])),
        )


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """What a store was created with; fixed for its lifetime."""

    store_id: str
    k: int
    m: int
    stripe_size: int
    domains: tuple[str, ...]
    """Labels of the failure domains, in index order."""
    format: int = FORMAT_VERSION

    def pack(self) -> bytes:
        """The record as stored (JSON)."""
        return _dump(asdict(self))

    @classmethod
    def unpack(cls, data: bytes) -> StoreConfig:
        """Decodes `pack()`'s output; StateError for another format version."""
        config = _decode(
            data,
            "store config",
            lambda f: cls(
                str(f["store_id"]),
                int(f["k"]),
                int(f["m"]),
                int(f["stripe_size"]),
                tuple(str(label) for label in f["domains"]),
                int(f["format"]),
            ),
        )
        if config.format != FORMAT_VERSION:
            raise StateError(
                f"volume store format {config.format} is not {FORMAT_VERSION}, "
                "the one this version reads"
            )
        return config


@dataclass(frozen=True, slots=True)
class StoreState:
    """Counters and flags that change as the store is used."""

    next_version: int
    """Above every version referenced by a committed stripe record."""
    next_volume_id: int
    """The id the next created volume gets."""
    clean: bool
    """False while open, and after a crash: the next open sweeps orphaned blobs."""

    def pack(self) -> bytes:
        """The record as stored (JSON)."""
        return _dump(asdict(self))

    @classmethod
    def unpack(cls, data: bytes) -> StoreState:
        """Decodes `pack()`'s output."""
        return _decode(
            data,
            "store state",
            lambda f: cls(int(f["next_version"]), int(f["next_volume_id"]), bool(f["clean"])),
        )


def _dump(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


def _decode(data: bytes, what: str, build: Callable[[dict[str, Any]], T]) -> T:
    try:
        fields = json.loads(data)
        if not isinstance(fields, dict):
            raise TypeError("not a JSON object")
        return build(fields)
    except (KeyError, TypeError, ValueError) as exc:
        raise StateError(f"{what} is malformed: {exc!r}") from exc
