"""StripeLayout: how volume bytes map to stripes, shards and failure domains.

A volume is a sequence of stripes of `stripe_size` data bytes. A stripe is encoded in one buffer
of `width * shard_size` bytes: the data fills shards 0..k-1 in order (byte x of the stripe is
byte x of the buffer, in shard x // shard_size), padded with zeros to `k * shard_size`, and the
m parity shards follow. Shards are 64-byte multiples so every shard of an aligned buffer starts
on a SIMD-friendly boundary.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from thecloud.core.errors import InvalidArgumentError

__all__ = [
    "MAX_DOMAINS",
    "MAX_SHARDS",
    "MAX_STRIPE_SIZE",
    "SECTOR",
    "Span",
    "StripeLayout",
]

#: The codec works in GF(2^8): at most 255 shards per stripe.
MAX_SHARDS: Final = 255
#: Domain indices are stored as 16-bit numbers in stripe records.
MAX_DOMAINS: Final = 65_535
#: Stripes are whole sectors so block-device clients never straddle half a sector.
SECTOR: Final = 512
#: A dirty stripe is held in memory whole: keep one stripe far below a sensible cache size.
MAX_STRIPE_SIZE: Final = 64 << 20
_SHARD_ALIGNMENT: Final = 64
# Spreads the starting domain of different volumes so stripe 0 of every volume does not land
# its parity on the same domains; any odd constant works, this one is a large prime.
_VOLUME_SPREAD: Final = 1_000_003


@dataclass(frozen=True, slots=True)
class Span:
    """The part of one stripe that a request touches."""

    stripe: int
    """Stripe index within the volume."""
    start: int
    """First byte within the stripe's data."""
    end: int
    """One past the last byte within the stripe's data."""
    position: int
    """Where this part begins within the request's buffer."""

    @property
    def length(self) -> int:
        """Bytes of the request in this stripe."""
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class StripeLayout:
    """The geometry of a store: k data and m parity shards per stripe over `domains` domains."""

    k: int
    m: int
    stripe_size: int
    domains: int

    def __post_init__(self) -> None:
        for name in ("k", "m", "stripe_size", "domains"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise InvalidArgumentError(f"{name} must be an integer, got {value!r}")
        if self.k < 1 or self.m < 1 or self.k + self.m > MAX_SHARDS:
            raise InvalidArgumentError(
                f"k and m must be at least 1 with k + m <= {MAX_SHARDS}; got k={self.k}, m={self.m}"
            )
        if not SECTOR <= self.stripe_size <= MAX_STRIPE_SIZE or self.stripe_size % SECTOR:
            raise InvalidArgumentError(
                f"stripe_size must be a multiple of {SECTOR} between {SECTOR} and "
                f"{MAX_STRIPE_SIZE} bytes, got {self.stripe_size}"
            )
        if not self.width <= self.domains <= MAX_DOMAINS:
            raise InvalidArgumentError(
                f"a {self.k}+{self.m} code places each stripe's {self.width} shards on distinct "
                f"failure domains: it needs at least {self.width} domains, got {self.domains}"
            )

    @property
    def width(self) -> int:
        """Shards per stripe (k + m)."""
        return self.k + self.m

    @property
    def shard_size(self) -> int:
        """Bytes per shard: the stripe's data split k ways, rounded up to 64 bytes."""
        per_shard = -(-self.stripe_size // self.k)
        return -(-per_shard // _SHARD_ALIGNMENT) * _SHARD_ALIGNMENT

    @property
    def buffer_size(self) -> int:
        """Bytes of an encoded stripe: every data and parity shard back to back."""
        return self.width * self.shard_size

    def stripe_count(self, volume_size: int) -> int:
        """Stripes needed to hold `volume_size` bytes."""
        return -(-volume_size // self.stripe_size)

    def stripe_data_size(self, stripe: int, volume_size: int) -> int:
        """Data bytes of `stripe` that lie inside a volume of `volume_size` bytes."""
        return min(self.stripe_size, volume_size - stripe * self.stripe_size)

    def spans(self, offset: int, length: int) -> Iterator[Span]:
        """The per-stripe pieces of the byte range [offset, offset + length), in order."""
        position = 0
        while position < length:
            stripe, start = divmod(offset + position, self.stripe_size)
            end = min(self.stripe_size, start + length - position)
            yield Span(stripe, start, end, position)
            position += end - start

    def whole_stripes(self, offset: int, length: int, volume_size: int) -> range:
        """Stripes whose data lies entirely in [offset, offset + length) of a volume; a short
        last stripe counts when the range reaches the end of the volume."""
        end = offset + length
        if end != volume_size:
            end -= end % self.stripe_size
        first = -(-offset // self.stripe_size)
        return range(first, max(first, self.stripe_count(end)))

    def data_shards(self, start: int, end: int) -> range:
        """The data shards holding stripe bytes [start, end) (end > start)."""
        return range(start // self.shard_size, (end - 1) // self.shard_size + 1)

    def placement(self, volume_id: int, stripe: int) -> tuple[int, ...]:
        """The domain of each shard of a stripe: distinct, starting domain rotating per stripe.

        Rotation moves the parity (which plain reads skip) and the first data shard (which small
        reads hit most) around all domains, so load spreads even when domains == k + m.
        """
        first = (volume_id * _VOLUME_SPREAD + stripe) % self.domains
        return tuple((first + shard) % self.domains for shard in range(self.width))
