"""Reed-Solomon encode and reconstruct: ours against ISA-L, pyeclib and zfec, in one run.

One core, 1 MiB stripes (8+3: 128 KiB shards), in cache (one stripe) and streaming from a
1 GiB pool. Throughput counts data bytes (k shards) per second of CPU time. The volume store's
cases (`python -m bench volume` alone) follow: the same bytes written to one plain file.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from bench import ec_anchors, volume
from bench.affinity import pinned_to_last_cpu
from bench.context import RunContext
from bench.results import BenchResult, Case, Target
from bench.stats import Stats
from bench.timing import per_call_seconds
from thecloud.dataplane.ec import ReedSolomon, aligned, supported_kernels, use_kernel

NAME = "ec"
ANCHORS = ("pyeclib", "zfec")

K, M = 8, 3
STRIPE = 1 << 20
SHARD = STRIPE // K
GB = 1e9


def _stripe(seed: int = 0) -> npt.NDArray[np.uint8]:
    stripe = aligned((K + M) * SHARD)
    stripe[: K * SHARD] = np.random.default_rng(seed).integers(0, 256, K * SHARD, dtype=np.uint8)
    return stripe


def _shards(stripe: npt.NDArray[np.uint8]) -> list[npt.NDArray[np.uint8]]:
    return [stripe[i * SHARD : (i + 1) * SHARD] for i in range(K + M)]


def _throughput(ctx: RunContext, call: Callable[[], object], data_bytes: int) -> Stats:
    seconds, _ = per_call_seconds(call, repeat=ctx.repeat, min_sample_seconds=ctx.pick(0.2, 0.05))
    return Stats.of([data_bytes / s / GB for s in seconds.samples])


def _harness(
    ctx: RunContext, kernel: str, rows: int, pool: int, cpu: int | None, *, stream_min: int = -1
) -> Stats:
    samples = [
        ec_anchors.harness_seconds(
            ec_anchors.HarnessRun(kernel, K, rows, SHARD, pool, ctx.pick(0.3, 0.1), stream_min),
            cpu,
        )
        for _ in range(ctx.repeat)
    ]
    data = pool if kernel == "read" else K * SHARD
    return Stats.of([data / s / GB for s in samples])


def _same_parity(
    stripe: npt.NDArray[np.uint8], theirs: list[npt.NDArray[np.uint8]], who: str
) -> None:
    """Anchors must compute what we compute, or the comparison means nothing."""
    if bytes(stripe[K * SHARD :]) != b"".join(bytes(p) for p in theirs):
        raise AssertionError(f"{who} computed different parity for the same stripe")


def encode_cases(ctx: RunContext, result: BenchResult, cpu: int | None) -> None:
    """Encode in cache against every anchor, and the cost of calling from Python."""
    code = ReedSolomon(K, M)
    stripe = _stripe()
    shards = _shards(stripe)
    code.encode_stripe(stripe)
    ctx.progress("encode 8+3 in cache")
    ours = _throughput(ctx, lambda: code.encode_stripe(stripe), K * SHARD)
    debian = ec_anchors.debian_isal()
    parity_out = [aligned(SHARD) for _ in range(M)]
    isal_call = debian.caller("ec_encode_data", debian.parity_tables(K, M), shards[:K], parity_out)
    result.add(
        Case(
            "encode 8+3 in cache vs Debian ISA-L 2.30",
            "GB/s",
            ours,
            _throughput(ctx, isal_call, K * SHARD),
            Target(40, "higher"),
            "higher",
            note="target also >= 2x Debian ISA-L",
        )
    )
    isal_call()
    _same_parity(stripe, parity_out, "Debian ISA-L")
    bundled = ec_anchors.pyeclib_isal()
    if bundled is not None:
        call = bundled.caller("ec_encode_data", bundled.parity_tables(K, M), shards[:K], parity_out)
        call()
        _same_parity(stripe, parity_out, "pyeclib's ISA-L")
        result.add(
            Case(
                "encode 8+3 in cache vs pyeclib's bundled ISA-L",
                "GB/s",
                ours,
                _throughput(ctx, call, K * SHARD),
                better="higher",
                note=f"raw ec_encode_data of {bundled.path.rsplit('/', 1)[-1]}",
            )
        )
    from pyeclib.ec_iface import ECDriver

    driver = ECDriver(k=K, m=M, ec_type="isa_l_rs_vand")
    payload = bytes(stripe[: K * SHARD])
    result.add(
        Case(
            "encode 8+3 vs pyeclib (isa_l_rs_vand)",
            "GB/s",
            ours,
            _throughput(ctx, lambda: driver.encode(payload), K * SHARD),
            better="higher",
            note="target >= 4x pyeclib; its API copies into fragments",
        )
    )
    import zfec

    encoder = zfec.Encoder(K, K + M)
    blocks = [bytes(s) for s in shards[:K]]
    result.add(
        Case(
            "encode 8+3 vs zfec",
            "GB/s",
            ours,
            _throughput(ctx, lambda: encoder.encode(blocks), K * SHARD),
            better="higher",
        )
    )
    ctx.progress("Python call overhead against the C harness")
    c_harness = _harness(
        ctx,
        "gfni512" if "gfni512" in supported_kernels() else supported_kernels()[0],
        M,
        (K + M) * SHARD,
        cpu,
    )
    result.add(
        Case(
            "encode_stripe from Python / C harness (same kernel, in cache)",
            "GB/s",
            ours,
            c_harness,
            Target(0.9 * c_harness.median, "higher"),
            "higher",
            note="target: Python costs <= 10% versus the C harness",
        )
    )


def streaming_cases(ctx: RunContext, result: BenchResult, cpu: int | None) -> None:
    """Encoding stripes walked through a pool larger than the caches, against reading it."""
    pool = ctx.pick(1 << 30, 256 << 20)
    ctx.progress(f"streaming encode over a {pool >> 20} MiB pool")
    kernel = supported_kernels()[0]
    streamed = _harness(ctx, kernel, M, pool, cpu, stream_min=32 * 1024)
    regular = _harness(ctx, kernel, M, pool, cpu)
    read = _harness(ctx, "read", M, pool, cpu)
    result.add(
        Case(
            f"encode 8+3 streaming ({pool >> 20} MiB pool) vs core read bandwidth",
            "GB/s",
            streamed,
            read,
            Target(0.75 * read.median, "higher"),
            "higher",
            note="target: >= 75% of the read bandwidth measured in the same harness; "
            "non-temporal parity stores on (thecloud.dataplane.ec.stream_stores)",
        )
    )
    result.add(
        Case("  the same with regular stores (the default)", "GB/s", regular, read, better="higher")
    )


def reconstruct_cases(ctx: RunContext, result: BenchResult) -> None:
    """Rebuilding 1 and m lost shards in place, against ISA-L applying the same decode rows."""
    code = ReedSolomon(K, M)
    stripe = _stripe(1)
    code.encode_stripe(stripe)
    shards = _shards(stripe)
    debian = ec_anchors.debian_isal()
    for lost, bound in (((0,), 60.0), (tuple(range(M)), 40.0)):
        ctx.progress(f"reconstruct {len(lost)} lost")

        def rebuild(lost: tuple[int, ...] = lost) -> None:
            code.reconstruct_stripe(stripe, lost)

        ours = _throughput(ctx, rebuild, K * SHARD)
        present = [i for i in range(K + M) if i not in lost][:K]
        call = debian.caller(
            "ec_encode_data",
            debian.tables(K, len(lost), _decode_rows(present, list(lost))),
            [shards[i] for i in present],
            [shards[i] for i in lost],
        )
        result.add(
            Case(
                f"reconstruct {len(lost)} lost (8+3) in place vs Debian ISA-L",
                "GB/s",
                ours,
                _throughput(ctx, call, K * SHARD),
                Target(bound, "higher"),
                "higher",
            )
        )


def _decode_rows(present: list[int], lost: list[int]) -> bytes:
    from thecloud.dataplane.ec._native import ffi, lib

    rows = ffi.new("uint8_t[]", len(lost) * K)
    lib.tc_ec_decode_rows(K, M, ffi.new("int[]", present), ffi.new("int[]", lost), len(lost), rows)
    return bytes(ffi.buffer(rows))


def avx2_case(ctx: RunContext, result: BenchResult) -> None:
    """Both libraries forced onto their AVX2 (PSHUFB) paths."""
    ctx.progress("AVX2 paths forced")
    code = ReedSolomon(K, M)
    stripe = _stripe(2)
    with use_kernel("avx2"):
        ours = _throughput(ctx, lambda: code.encode_stripe(stripe), K * SHARD)
    debian = ec_anchors.debian_isal()
    shards = _shards(stripe)
    call = debian.caller(
        "ec_encode_data_avx2",
        debian.parity_tables(K, M),
        shards[:K],
        [aligned(SHARD) for _ in range(M)],
    )
    result.add(
        Case(
            "encode 8+3 AVX2 path vs ISA-L ec_encode_data_avx2",
            "GB/s",
            ours,
            _throughput(ctx, call, K * SHARD),
            better="higher",
            note="target: >= 1.0x ISA-L's AVX2 path",
        )
    )


def run(ctx: RunContext) -> BenchResult:
    """Every ec case."""
    result = BenchResult(NAME)
    with pinned_to_last_cpu() as cpu:
        encode_cases(ctx, result, cpu)
        streaming_cases(ctx, result, cpu)
        reconstruct_cases(ctx, result)
        avx2_case(ctx, result)
    ctx.progress("volume store against a plain file")
    volume_result = volume.run(ctx)
    result.cases.extend(volume_result.cases)
    result.notes.extend(volume_result.notes)
    result.notes.append(
        f"one core (CPU {cpu}), CPU time; kernel {supported_kernels()[0]}; throughput counts the "
        f"{K} data shards of a {STRIPE >> 20} MiB stripe; ratios > 1: ours faster"
    )
    return result
