"""ReedSolomon: systematic k+m erasure coding of equal-sized shards.

Shards 0..k-1 are the data, k..k+m-1 the parity; any k of them rebuild the others. Parity is
byte-identical to ISA-L's `ec_encode_data` with its Cauchy matrix (`gf_gen_cauchy1_matrix`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from thecloud.core.errors import InvalidArgumentError
from thecloud.dataplane.ec._native import ffi, lib
from thecloud.dataplane.ec.buffers import BufferLike, aligned, pointers

MAX_SHARDS = 255


class ReedSolomon:
    """A k+m code: `encode` computes parity, `reconstruct` rebuilds up to m lost shards."""

    def __init__(self, k: int, m: int) -> None:
        if not (isinstance(k, int) and isinstance(m, int)) or k < 1 or m < 1 or k + m > MAX_SHARDS:
            raise InvalidArgumentError(
                f"a Reed-Solomon code needs k >= 1, m >= 1 and k + m <= {MAX_SHARDS}; "
                f"got k={k!r}, m={m!r}"
            )
        self.k = k
        self.m = m
        matrix = ffi.new("uint8_t[]", (k + m) * k)
        _checked(lib.tc_ec_encode_matrix(k, m, matrix))
        self._parity_tables = _tables(k, m, ffi.buffer(matrix)[k * k :])

    def __repr__(self) -> str:
        return f"ReedSolomon(k={self.k}, m={self.m})"

    def encode(self, data: Sequence[BufferLike], parity: Sequence[BufferLike]) -> None:
        """Writes the m parity shards of the k data shards into `parity` (caller-allocated)."""
        if len(data) != self.k or len(parity) != self.m:
            raise InvalidArgumentError(
                f"{self!r} encodes {self.k} data shards into {self.m} parity shards; "
                f"got {len(data)} and {len(parity)}"
            )
        inputs, length = pointers(list(data), writable=False, what="data shard")
        outputs, out_length = pointers(list(parity), writable=True, what="parity shard")
        if out_length != length:
            raise InvalidArgumentError(
                f"parity shards have {out_length} bytes, data shards {length}: they must match"
            )
        lib.tc_ec_apply(length, self.k, self.m, self._parity_tables, inputs, outputs)

    def encode_stripe(self, stripe: BufferLike) -> None:
        """Encodes a contiguous stripe in place: k data shards, then m parity shards to fill.

        One native call with no per-shard bookkeeping: the fast path for stripe-sized buffers.
        """
        target = _writable(stripe, "the stripe")
        lib.tc_ec_encode_stripe(
            self._shard_size(target), self.k, self.m, self._parity_tables, target
        )

    def reconstruct_stripe(self, stripe: BufferLike, lost: Sequence[int]) -> None:
        """Rebuilds the shards `lost` (at most m indices) of a contiguous stripe in place."""
        target = _writable(stripe, "the stripe")
        shard = self._shard_size(target)
        # Validated and cached per loss pattern: a repeated pattern costs one dict lookup.
        tables, present, missing, count = self._stripe_decoder(tuple(lost))
        lib.tc_ec_reconstruct_stripe(shard, self.k, self.m, tables, present, missing, count, target)

    def _shard_size(self, stripe: Any) -> int:
        shard, remainder = divmod(len(stripe), self.k + self.m)
        if remainder:
            raise InvalidArgumentError(
                f"a stripe of {self!r} holds {self.k + self.m} equal shards; "
                f"{len(stripe)} bytes do not divide evenly"
            )
        return shard

    def reconstruct(
        self, shards: Sequence[BufferLike | None], out: dict[int, BufferLike] | None = None
    ) -> dict[int, BufferLike]:
        """Rebuilds the shards given as None (at most m) from the others; returns only those.

        `out` may supply buffers for the lost shards (by index); others are allocated aligned.
        """
        if len(shards) != self.k + self.m:
            raise InvalidArgumentError(
                f"{self!r} takes all {self.k + self.m} shards (None for lost ones), "
                f"got {len(shards)}"
            )
        lost = [i for i, shard in enumerate(shards) if shard is None]
        if len(lost) > self.m:
            raise InvalidArgumentError(
                f"{len(lost)} shards are lost but {self!r} can rebuild at most {self.m}"
            )
        if not lost:
            return {}
        present = tuple(i for i, shard in enumerate(shards) if shard is not None)[: self.k]
        inputs, length = pointers(
            [shards[i] for i in present],  # type: ignore[misc]  # None filtered out above
            writable=False,
            what="shard",
        )
        given = out or {}
        targets: dict[int, BufferLike] = {
            i: given[i] if i in given else aligned(length) for i in lost
        }
        outputs, out_length = pointers(
            [targets[i] for i in lost], writable=True, what="output shard"
        )
        if out_length != length:
            raise InvalidArgumentError(f"output shards must have {length} bytes, not {out_length}")
        tables = self._decode_tables(present, tuple(lost))
        lib.tc_ec_apply(length, self.k, len(lost), tables, inputs, outputs)
        return targets

    @functools.lru_cache(maxsize=256)  # noqa: B019 - a code lives as long as its users
    def _stripe_decoder(self, lost: tuple[int, ...]) -> tuple[Any, Any, Any, int]:
        """Tables and index arrays rebuilding `lost` from the first k other shards."""
        wanted = tuple(sorted(set(lost)))
        if not 1 <= len(wanted) <= self.m or not all(0 <= i < self.k + self.m for i in wanted):
            raise InvalidArgumentError(
                f"{self!r} rebuilds 1 to {self.m} of shards 0..{self.k + self.m - 1}; got {lost}"
            )
        present = tuple(i for i in range(self.k + self.m) if i not in wanted)[: self.k]
        tables = self._decode_tables(present, wanted)
        return tables, ffi.new("int[]", present), ffi.new("int[]", wanted), len(wanted)

    @functools.lru_cache(maxsize=256)  # noqa: B019 - a code lives as long as its users
    def _decode_tables(self, present: tuple[int, ...], lost: tuple[int, ...]) -> Any:
        """Tables rebuilding `lost` from `present`, cached per loss pattern."""
        rows = ffi.new("uint8_t[]", len(lost) * self.k)
        _checked(
            lib.tc_ec_decode_rows(
                self.k, self.m, ffi.new("int[]", present), ffi.new("int[]", lost), len(lost), rows
            )
        )
        return _tables(self.k, len(lost), ffi.buffer(rows)[:])


def _writable(buffer: BufferLike, what: str) -> Any:
    """A C view of a writable, contiguous buffer (cffi checks both), or a clear error."""
    try:
        return ffi.from_buffer("uint8_t[]", buffer, require_writable=True)
    except (TypeError, BufferError, ValueError) as exc:
        raise InvalidArgumentError(f"{what} must be a writable, contiguous buffer: {exc}") from None


def _tables(k: int, rows: int, coefficients: bytes) -> Any:
    tables = ffi.new("uint8_t[]", lib.tc_ec_tables_size(k, rows))
    _checked(lib.tc_ec_init_tables(k, rows, coefficients, tables))
    return tables


def _checked(status: int) -> None:
    if status != 0:
        raise InvalidArgumentError(f"erasure-coding library refused the request (code {status})")
