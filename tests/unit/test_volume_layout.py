"""StripeLayout: geometry checks, request splitting and placement over failure domains."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from thecloud.core.errors import InvalidArgumentError
from thecloud.dataplane.volume import StripeLayout

pytestmark = pytest.mark.unit


def test_shards_split_the_stripe_k_ways_rounded_to_64_bytes() -> None:
    assert StripeLayout(4, 2, 1 << 20, 6).shard_size == 256 << 10
    odd = StripeLayout(3, 2, 1 << 20, 5)
    assert odd.shard_size % 64 == 0
    assert odd.shard_size * 3 >= 1 << 20 > (odd.shard_size - 64) * 3
    assert odd.buffer_size == 5 * odd.shard_size


def test_spans_cover_a_request_exactly_once_in_order() -> None:
    layout = StripeLayout(4, 2, 4096, 6)
    spans = list(layout.spans(1000, 10_000))
    assert [s.stripe for s in spans] == [0, 1, 2]
    assert (spans[0].start, spans[0].end, spans[0].position) == (1000, 4096, 0)
    assert (spans[1].start, spans[1].end, spans[1].position) == (0, 4096, 3096)
    assert (spans[2].start, spans[2].end) == (0, 11_000 - 8192)
    assert sum(s.length for s in spans) == 10_000
    assert list(layout.spans(5, 0)) == []


def test_data_shards_are_the_ones_under_a_byte_range() -> None:
    layout = StripeLayout(4, 2, 4096, 6)
    assert list(layout.data_shards(0, 1)) == [0]
    assert list(layout.data_shards(1023, 1025)) == [0, 1]
    assert list(layout.data_shards(0, 4096)) == [0, 1, 2, 3]


def test_whole_stripes_of_a_range_count_a_short_last_stripe_at_the_end() -> None:
    layout = StripeLayout(4, 2, 100 * 512, 6)
    stripe = layout.stripe_size
    size = 2 * stripe + 512
    assert layout.whole_stripes(0, size, size) == range(0, 3)
    assert layout.whole_stripes(1, size - 1, size) == range(1, 3)
    assert layout.whole_stripes(0, size - 1, size) == range(0, 2)
    assert layout.whole_stripes(10, stripe, size) == range(1, 1)
    assert not layout.whole_stripes(stripe, 0, size)


def test_placement_uses_distinct_domains_and_rotates_over_all_of_them() -> None:
    layout = StripeLayout(4, 2, 4096, 9)
    first_shards: Counter[int] = Counter()
    parity: Counter[int] = Counter()
    for stripe in range(900):
        placed = layout.placement(7, stripe)
        assert len(set(placed)) == 6
        first_shards[placed[0]] += 1
        parity.update(placed[4:])
    assert set(first_shards) == set(range(9))
    assert max(parity.values()) - min(parity.values()) <= 2


def test_placement_with_exactly_k_plus_m_domains_moves_parity_around() -> None:
    layout = StripeLayout(4, 2, 4096, 6)
    parity_domains = {layout.placement(1, s)[4] for s in range(6)}
    assert parity_domains == set(range(6))


@pytest.mark.parametrize(
    ("k", "m", "stripe_size", "domains"),
    [
        (0, 2, 4096, 6),
        (4, 0, 4096, 6),
        (-1, 2, 4096, 6),
        (200, 56, 1 << 20, 300),
        (4, 2, 1000, 6),
        (4, 2, 0, 6),
        (4, 2, 128 << 20, 6),
        (4, 2, 4096, 5),
        (4.0, 2, 4096, 6),
        (True, 2, 4096, 6),
    ],
)
def test_out_of_range_geometry_is_refused(
    k: object, m: object, stripe_size: object, domains: object
) -> None:
    with pytest.raises(InvalidArgumentError):
        StripeLayout(k, m, stripe_size, domains)  # type: ignore[arg-type]


def test_widest_code_is_accepted() -> None:
    layout = StripeLayout(200, 55, 1 << 20, 255)
    assert all(
        len(set(layout.placement(1, s))) == 255 for s in itertools.islice(itertools.count(), 3)
    )
