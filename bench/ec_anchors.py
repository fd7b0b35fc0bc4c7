"""The anchors of the `ec` benchmark: ISA-L through ctypes (Debian's and pyeclib's bundled copy),
pyeclib's driver, zfec, and our own C harness (no Python in the loop)."""

from __future__ import annotations

import ctypes
import os
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[1]
EC_SOURCE = ROOT / "native" / "ec"
HARNESS = ROOT / "build" / "bench" / "ec_harness"

Shards = Sequence[npt.NDArray[np.uint8]]


class IsaL:
    """One ISA-L shared library, called exactly as its C users call it."""

    def __init__(self, path: str) -> None:
        self.path = path
        # Two ISA-L copies (Debian's and pyeclib's) export the same names; DEEPBIND keeps each
        # one's internal calls inside itself instead of crossing into the other's tables.
        self.lib = ctypes.CDLL(path, mode=os.RTLD_LOCAL | os.RTLD_DEEPBIND)

    def tables(self, k: int, rows: int, coefficients: bytes) -> Any:
        """ec_init_tables of a rows x k coefficient matrix."""
        table = (ctypes.c_ubyte * (k * rows * 32))()
        self.lib.ec_init_tables(k, rows, (ctypes.c_ubyte * len(coefficients))(*coefficients), table)
        return table

    def parity_tables(self, k: int, m: int) -> Any:
        """Tables of the Cauchy code ISA-L and we share (gf_gen_cauchy1_matrix)."""
        matrix = (ctypes.c_ubyte * ((k + m) * k))()
        self.lib.gf_gen_cauchy1_matrix(matrix, k + m, k)
        return self.tables(k, m, bytes(matrix)[k * k :])

    def caller(
        self, function: str, tables: Any, inputs: Shards, outputs: Shards
    ) -> Callable[[], None]:
        """A no-argument call of ec_encode_data (or a variant) on fixed buffers."""
        encode = getattr(self.lib, function)
        k, rows, size = len(inputs), len(outputs), inputs[0].nbytes
        ins = (ctypes.c_void_p * k)(*[a.ctypes.data for a in inputs])
        outs = (ctypes.c_void_p * rows)(*[a.ctypes.data for a in outputs])
        return lambda: encode(size, k, rows, tables, ins, outs)


def debian_isal() -> IsaL:
    """Debian's libisal2 (2.30: AVX-512 and AVX2 paths, no GFNI)."""
    return IsaL("libisal.so.2")


def pyeclib_isal() -> IsaL | None:
    """The newer ISA-L bundled in pyeclib's wheel, if it is there."""
    try:
        import pyeclib
    except ImportError:
        return None
    bundled = sorted(Path(pyeclib.__file__).parents[1].glob("pyeclib.libs/libisal*.so*"))
    return IsaL(str(bundled[0])) if bundled else None


def harness() -> Path:
    """Builds (when stale) and returns the C harness timing our kernels with no Python."""
    sources = [*(EC_SOURCE / "src").glob("*.c"), EC_SOURCE / "bench" / "ec_harness.c"]
    headers = [*(EC_SOURCE / "src").glob("*.h"), *(EC_SOURCE / "include").glob("*.h")]
    newest = max(p.stat().st_mtime for p in [*sources, *headers])
    if not HARNESS.exists() or HARNESS.stat().st_mtime < newest:
        HARNESS.parent.mkdir(parents=True, exist_ok=True)
        include = [f"-I{EC_SOURCE / 'include'}", f"-I{EC_SOURCE / 'src'}"]
        command = ["cc", "-O3", *include, *map(str, sources), "-o", str(HARNESS)]
        subprocess.run(command, check=True)
    return HARNESS


@dataclass(frozen=True)
class HarnessRun:
    """One run of the C harness: which kernel, code, shard and pool sizes, for how long."""

    kernel: str
    k: int
    m: int
    shard: int
    pool: int
    seconds: float
    stream_min: int = -1
    """Outputs at least this long use non-temporal stores; -1: never."""


def harness_seconds(run: HarnessRun, cpu: int | None) -> float:
    """CPU seconds per call of the C harness (or per pass over the pool for kernel 'read')."""
    stream_min = str(run.stream_min if run.stream_min >= 0 else 2**64 - 1)
    command = [str(harness()), run.kernel, str(run.k), str(run.m), str(run.shard)]
    command += [str(run.pool), str(run.seconds), stream_min]
    if cpu is not None:
        command = ["taskset", "-c", str(cpu), *command]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout.split()
    return float(output[2])
