"""Resource identifiers: a type prefix and a time-sortable, collision-resistant body.

An id looks like `srv-01jd8x3m5q7k2n4p6r8t0v2w4y`: a lowercase type prefix (2 to 12 letters), a
hyphen, then 26 characters of Crockford base32 encoding 128 bits, most significant first:

- 48 bits: milliseconds since the Unix epoch, so ids sort lexicographically by creation time (to
  the millisecond; ids made within the same millisecond are in random order);
- 80 bits from `secrets.token_bytes`, so ids made anywhere, by any process, do not collide.

The body is written in lowercase because ids end up in URLs, host names, libvirt domain names and
file names, where mixed case invites mistakes. Parsing accepts the body in either case and returns
the canonical lowercase form; the prefix must be lowercase.
"""

from __future__ import annotations

import itertools
import re
import secrets
import time

from thecloud.core.errors import InvalidArgumentError

__all__ = ["new_correlation_id", "new_id", "parse_id"]

# Crockford's alphabet leaves out i, l, o and u so ids survive being read aloud or retyped.
_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_BODY_LENGTH = 26
_RANDOM_BYTES = 10
_PREFIX_PATTERN = re.compile(r"[a-z]{2,12}")
# 26 characters carry 130 bits, the top two always zero, so the first character is at most 7.
_BODY_PATTERN = re.compile(rf"[0-7][{_ALPHABET}]{{{_BODY_LENGTH - 1}}}")


# Prefixes come from code, a handful per process; checked once each, not on every id.
_CHECKED_PREFIXES: set[str] = set()


def _check_prefix(prefix: str) -> None:
    if prefix in _CHECKED_PREFIXES:
        return
    if not _PREFIX_PATTERN.fullmatch(prefix):
        raise InvalidArgumentError(
            f"id prefix must be 2 to 12 lowercase ASCII letters, got {prefix!r}"
        )
    _CHECKED_PREFIXES.add(prefix)


# Two characters (10 bits) per lookup: every request gets a fresh id, and a digit-at-a-time
# divmod loop cost more than half the time of making one.
_PAIRS = tuple(high + low for high in _ALPHABET for low in _ALPHABET)
_PAIR_SHIFTS = tuple(range((_BODY_LENGTH // 2 - 1) * 10, -1, -10))


def _encode(value: int) -> str:
    return "".join([_PAIRS[(value >> shift) & 0x3FF] for shift in _PAIR_SHIFTS])


def new_id(prefix: str) -> str:
    """Return a fresh id `<prefix>-<26 base32 chars>` for a resource of the type `prefix` names."""
    _check_prefix(prefix)
    # 48 bits of milliseconds last until the year 10889.
    millis = time.time_ns() // 1_000_000
    entropy = int.from_bytes(secrets.token_bytes(_RANDOM_BYTES), "big")
    return f"{prefix}-{_encode(millis << (_RANDOM_BYTES * 8) | entropy)}"


# Correlation ids (one per API request) must be unique, not unguessable: a counter from a random
# start fills their low 80 bits without a getrandom(2) call per request.
_RANDOM_MASK = (1 << (_RANDOM_BYTES * 8)) - 1
_sequence = itertools.count(int.from_bytes(secrets.token_bytes(_RANDOM_BYTES), "big"))


def new_correlation_id(prefix: str) -> str:
    """Like `new_id`, for ids that only label something (a request): unique within a process
    and, from its random start, across processes; consecutive ids are predictable."""
    _check_prefix(prefix)
    millis = time.time_ns() // 1_000_000
    return f"{prefix}-{_encode(millis << (_RANDOM_BYTES * 8) | (next(_sequence) & _RANDOM_MASK))}"


def parse_id(value: str, prefix: str) -> str:
    """Check that `value` is a well-formed id of the type `prefix` and return its canonical form.

    Raises InvalidArgumentError, naming the expected shape, for anything else, including a
    well-formed id of another type (a volume id passed where an instance id belongs).
    """
    _check_prefix(prefix)
    head, sep, body = value.partition("-")
    # The prefix was checked, so a head equal to it needs no pattern match of its own.
    if not sep or (head != prefix and not _PREFIX_PATTERN.fullmatch(head)):
        raise InvalidArgumentError(
            f"{value!r} is not an id: expected '{prefix}-' and {_BODY_LENGTH} base32 characters"
        )
    if head != prefix:
        raise InvalidArgumentError(f"{value!r} is a {head!r} id, expected a {prefix!r} id")
    canonical = body.lower()
    if not _BODY_PATTERN.fullmatch(canonical):
        raise InvalidArgumentError(
            f"{value!r} is not a valid {prefix!r} id: expected {_BODY_LENGTH} characters of "
            f"Crockford base32 ({_ALPHABET}) after '{prefix}-'"
        )
    return f"{prefix}-{canonical}"
