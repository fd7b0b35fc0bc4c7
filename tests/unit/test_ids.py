"""Resource ids: shape, time order, uniqueness and strict parsing."""

from __future__ import annotations

import re
import secrets
import time

import pytest

from thecloud.core.errors import InvalidArgumentError
from thecloud.core.ids import new_correlation_id, new_id, parse_id

pytestmark = pytest.mark.unit

CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
ID_SHAPE = re.compile(rf"srv-[0-7][{CROCKFORD}]{{25}}")


def _timestamp_ms(identifier: str) -> int:
    body = identifier.partition("-")[2]
    value = 0
    for char in body:
        value = value * 32 + CROCKFORD.index(char)
    return value >> 80


def test_new_id_has_prefix_and_26_crockford_characters() -> None:
    identifier = new_id("srv")

    assert ID_SHAPE.fullmatch(identifier), identifier


def test_new_id_encodes_every_random_bit(monkeypatch: pytest.MonkeyPatch) -> None:
    entropy = bytes.fromhex("f0e1d2c3b4a596870123")
    monkeypatch.setattr(secrets, "token_bytes", lambda size: entropy[:size])

    body = new_id("srv").partition("-")[2]
    value = 0
    for char in body:
        value = value * 32 + CROCKFORD.index(char)

    assert value & ((1 << 80) - 1) == int.from_bytes(entropy, "big")


def test_new_id_encodes_the_creation_millisecond() -> None:
    before = time.time_ns() // 1_000_000
    identifier = new_id("srv")
    after = time.time_ns() // 1_000_000

    assert before <= _timestamp_ms(identifier) <= after


def test_ids_made_in_later_milliseconds_sort_later() -> None:
    ids = []
    for _ in range(5):
        ids.append(new_id("vol"))
        time.sleep(0.002)

    assert sorted(ids) == ids


def test_ids_do_not_collide() -> None:
    ids = {new_id("inst") for _ in range(20_000)}

    assert len(ids) == 20_000


def test_correlation_ids_are_well_formed_unique_and_timestamped() -> None:
    before = time.time_ns() // 1_000_000
    ids = [new_correlation_id("req") for _ in range(20_000)]
    after = time.time_ns() // 1_000_000

    assert len(set(ids)) == len(ids)
    assert all(parse_id(i, "req") == i for i in ids[:100])
    assert before <= _timestamp_ms(ids[0]) <= _timestamp_ms(ids[-1]) <= after


@pytest.mark.parametrize("prefix", ["", "a", "Srv", "srv1", "s-v", "abcdefghijklm", "sr v"])
def test_bad_prefixes_are_rejected(prefix: str) -> None:
    with pytest.raises(InvalidArgumentError, match="prefix"):
        new_id(prefix)
    with pytest.raises(InvalidArgumentError, match="prefix"):
        parse_id("srv-01jd8x3m5q7k2n4p6r8t0v2w4y", prefix)


def test_parse_id_returns_a_valid_id_unchanged() -> None:
    identifier = new_id("srv")

    assert parse_id(identifier, "srv") == identifier


def test_parse_id_accepts_an_uppercase_body_and_returns_the_canonical_form() -> None:
    identifier = new_id("srv")
    prefix, _, body = identifier.partition("-")

    assert parse_id(f"{prefix}-{body.upper()}", "srv") == identifier


def test_parse_id_rejects_an_id_of_another_type() -> None:
    with pytest.raises(InvalidArgumentError, match=r"is a 'vol' id, expected a 'srv' id"):
        parse_id(new_id("vol"), "srv")


@pytest.mark.parametrize(
    "value",
    [
        "",
        "srv",
        "srv-",
        "srv01jd8x3m5q7k2n4p6r8t0v2w4y",
        "srv-01jd8x3m5q7k2n4p6r8t0v2w4",  # 25 characters
        "srv-01jd8x3m5q7k2n4p6r8t0v2w4yz",  # 27 characters
        "srv-01jd8x3m5q7k2n4p6r8t0v2w4u",  # u is not in Crockford's alphabet
        "srv-01jd8x3m5q7k2n4p6r8t0v2w4i",  # nor is i
        "srv-81jd8x3m5q7k2n4p6r8t0v2w4y",  # more than 128 bits
        " srv-01jd8x3m5q7k2n4p6r8t0v2w4y",
        "SRV-01jd8x3m5q7k2n4p6r8t0v2w4y",
    ],
)
def test_parse_id_rejects_malformed_values_with_a_clear_message(value: str) -> None:
    with pytest.raises(InvalidArgumentError, match=re.escape(repr(value))):
        parse_id(value, "srv")
