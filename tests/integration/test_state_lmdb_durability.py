"""kill -9 during concurrent writes: every put the LMDB store acknowledged survives.

A child process runs several writers that put keys concurrently (so group commit batches them)
and prints each key once its put returned. The test kills the child with SIGKILL at a random
moment, reopens the store, and checks that every printed key holds its value.

Run as a script (`python test_state_lmdb_durability.py child <dir> <round>`) it is the child.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from pathlib import Path
from typing import Final

import pytest

from thecloud.core.state import LmdbStateStore

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

WRITERS: Final = 8
ROUNDS: Final = 4


@pytest.fixture
def anyio_backend() -> str:
    """Run on asyncio, the loop the control plane uses."""
    return "asyncio"


def value_of(key: str) -> bytes:
    """The value the child writes at `key`, so the parent can check it without a log."""
    return key.encode() * 3


async def child(directory: Path, round_: int) -> None:
    """Put keys forever from WRITERS concurrent tasks, printing each acknowledged key."""
    async with await LmdbStateStore.open(directory) as store:

        async def writer(index: int) -> None:
            for sequence in range(1_000_000):
                key = f"r{round_}/w{index}/{sequence:07d}"
                await store.put(key, value_of(key))
                sys.stdout.write(key + "\n")
                sys.stdout.flush()

        await asyncio.gather(*(writer(index) for index in range(WRITERS)))


async def test_acknowledged_puts_survive_sigkill(tmp_path: Path) -> None:
    directory = tmp_path / "state"
    rng = random.Random(os.getpid())
    acknowledged: list[str] = []
    for round_ in range(ROUNDS):
        process = subprocess.Popen(
            [sys.executable, __file__, "child", str(directory), str(round_)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None
        target = rng.randint(1, 400)
        for _ in range(target):
            line = process.stdout.readline()
            assert line, f"child exited early with {process.wait()}"
            acknowledged.append(line.strip())
        process.send_signal(signal.SIGKILL)
        # Keys printed before the kill were acknowledged too.
        acknowledged.extend(line.strip() for line in process.stdout if line.endswith("\n"))
        process.stdout.close()
        assert process.wait() == -signal.SIGKILL

        async with await LmdbStateStore.open(directory) as store:
            missing = []
            for key in acknowledged:
                entry = await store.get(key)
                if entry is None or entry.value != value_of(key):
                    missing.append(key)
            assert not missing, f"round {round_}: lost {len(missing)} acknowledged puts"
            assert await store.revision() >= len(acknowledged)


if __name__ == "__main__" and sys.argv[1:2] == ["child"]:
    asyncio.run(child(Path(sys.argv[2]), int(sys.argv[3])))
