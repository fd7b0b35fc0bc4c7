"""Injected write and fsync failures (libfiu) reach the writer as errors and lose nothing flushed.

A child process runs under `fiu-run -x`, which preloads libfiu's POSIX wrappers. Around some of
its flushes it turns on a failure point: `write` failing at random (shard data), `fdatasync`
(shard durability), `fsync` (directory entries) or `pwrite` (LMDB's page writes, so the commit
itself fails). Each failed flush must raise StateError or OSError; the child then checks the
store is consistent: after a failure before the commit, its unflushed data is still there to
retry; after a commit failure, the store refuses work until reopened, and on reopening holds
either all or none of that flush. At the end the test reopens the store without faults and
compares every byte with what the child expects.

Run as a script (`python test_volume_fiu.py child <dir> <seed>`) it is the child.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Final

import pytest

from thecloud.core.errors import StateError
from thecloud.dataplane.volume import Volume, VolumeStore

pytestmark = pytest.mark.integration

STRIPE: Final = 64 << 10
SIZE: Final = 16 * STRIPE
ROUNDS: Final = 80
#: Failure point -> probability of each call failing while it is on.
FAULTS: Final = {
    "posix/io/rw/write": 0.05,
    "posix/io/sync/fdatasync": 1.0,
    "posix/io/sync/fsync": 1.0,
    "posix/io/rw/pwrite": 1.0,
}
FIU_PYTHON: Final = "/usr/lib/python3/dist-packages"


def open_store(root: Path) -> VolumeStore:
    disks = [root / f"disk{i}" for i in range(6)]
    return VolumeStore.open(root / "meta", disks, stripe_size=STRIPE)


def child(root: Path, seed: int) -> None:
    """Writes, flushes under injected faults, checks consistency; reports what happened."""
    # Debian's libfiu binding lives with the system Python; only this child needs it.
    sys.path.append(FIU_PYTHON)
    import fiu

    rng = random.Random(seed)
    store = open_store(root)
    volume: Volume = store.create("faulty", SIZE)
    flushed = bytearray(SIZE)  # content as of the last successful flush
    current = bytearray(SIZE)  # content including unflushed writes
    outcomes: Counter[str] = Counter()
    for _ in range(ROUNDS):
        for _ in range(rng.randint(1, 4)):
            length = rng.randint(1, 2 * STRIPE)
            offset = rng.randint(0, SIZE - length)
            data = rng.randbytes(length)
            volume.pwrite(data, offset)
            current[offset : offset + length] = data
        point = rng.choice([None, *FAULTS])
        if point is not None:
            fiu.enable_random(point, probability=FAULTS[point])
        try:
            volume.flush()
            error = None
        except (StateError, OSError) as exc:
            error = exc
        finally:
            if point is not None:
                fiu.disable(point)
        outcomes[f"{point} {type(error).__name__}"] += 1
        if error is None:
            flushed[:] = current
            continue
        try:
            # A failure before the commit: the writes are still buffered, ready for a retry.
            assert volume.pread(SIZE, 0) == current
        except StateError as refused:
            # The commit failed: its outcome is unknown until the store is reopened.
            assert "reopened" in str(refused)
            outcomes["reopened"] += 1
            store.close()
            store = open_store(root)
            volume = store.open_volume("faulty")
            content = volume.pread(SIZE, 0)
            assert content in (bytes(flushed), bytes(current)), "neither old nor new"
            outcomes["commit-durable" if content == current else "commit-lost"] += 1
            current[:] = content
            flushed[:] = content
    store.close()
    (root / "expected").write_bytes(current)
    (root / "outcomes.json").write_text(json.dumps(outcomes))


def test_write_and_fsync_failures_surface_and_leave_the_store_consistent(
    tmp_path: Path,
) -> None:
    fiu_run = shutil.which("fiu-run")
    assert fiu_run is not None, "fiu-run (Debian fiu-utils) is installed by the bootstrap"
    # -f '' turns off fiu-run's control FIFOs, which this test does not use.
    command = [fiu_run, "-x", "-f", "", sys.executable, __file__, "child", str(tmp_path), "7"]
    child_run = subprocess.run(command, capture_output=True, timeout=120, check=False)
    assert child_run.returncode == 0, child_run.stderr.decode()[-4000:]

    outcomes = Counter(json.loads((tmp_path / "outcomes.json").read_text()))
    for point in FAULTS:
        failures = (
            sum(n for key, n in outcomes.items() if key.startswith(point))
            - outcomes[f"{point} NoneType"]
        )
        assert failures > 0, f"{point} never made a flush fail: {outcomes}"
    assert outcomes["reopened"] > 0, outcomes
    assert {key.split()[1] for key in outcomes if " " in key} <= {"NoneType", "StateError"}

    with open_store(tmp_path) as store:
        assert store.open_volume("faulty").pread(SIZE, 0) == (tmp_path / "expected").read_bytes()
        report = store.scrub()
        assert report.healthy and not report.problems, report


if __name__ == "__main__" and sys.argv[1:2] == ["child"]:
    child(Path(sys.argv[2]), int(sys.argv[3]))
