"""Hypothesis: for random codes, sizes and loss patterns, reconstruction is bit-exact, and every
kernel this CPU has produces exactly the scalar reference's parity."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thecloud.dataplane.ec import ReedSolomon, aligned, supported_kernels, use_kernel

pytestmark = pytest.mark.property


@st.composite
def codes_and_losses(draw: st.DrawFn) -> tuple[int, int, int, list[int], int]:
    k = draw(st.integers(1, 20))
    m = draw(st.integers(1, 8))
    size = draw(st.sampled_from([0, 1, 63, 64, 65, 127, 128, 129, 1000, 4096, 33_000, 70_001]))
    lost = draw(st.lists(st.integers(0, k + m - 1), max_size=m, unique=True))
    seed = draw(st.integers(0, 2**32 - 1))
    return k, m, size, lost, seed


@settings(max_examples=120, deadline=None)
@given(codes_and_losses())
def test_reconstruction_is_bit_exact(case: tuple[int, int, int, list[int], int]) -> None:
    k, m, size, lost, seed = case
    rng = np.random.default_rng(seed)
    code = ReedSolomon(k, m)
    data = [aligned(size) for _ in range(k)]
    for shard in data:
        shard[:] = rng.integers(0, 256, size, dtype=np.uint8)
    parity = [aligned(size) for _ in range(m)]
    code.encode(data, parity)
    shards = [*data, *parity]
    rebuilt = code.reconstruct([None if i in lost else s for i, s in enumerate(shards)])
    assert sorted(rebuilt) == sorted(lost)
    for i in lost:
        assert bytes(rebuilt[i]) == bytes(shards[i])


@settings(max_examples=60, deadline=None)
@given(codes_and_losses())
def test_every_kernel_equals_the_scalar_reference(
    case: tuple[int, int, int, list[int], int],
) -> None:
    k, m, size, _, seed = case
    rng = np.random.default_rng(seed)
    code = ReedSolomon(k, m)
    data = [rng.integers(0, 256, size, dtype=np.uint8) for _ in range(k)]
    results = {}
    for kernel in supported_kernels():
        parity = [aligned(size) for _ in range(m)]
        with use_kernel(kernel):
            code.encode(data, parity)
        results[kernel] = [bytes(p) for p in parity]
    reference = results.pop("scalar")
    for kernel, parity_bytes in results.items():
        assert parity_bytes == reference, kernel
