"""kill -9 while writing: every flushed write survives, and no write or stripe is ever torn.

A child process writes and trims a volume with a deterministic sequence of operations,
flushing every few operations (and implicitly when its write-back buffer fills), and appends
the number of operations each flush acknowledged to a log it fsyncs before going on. The test
kills it with SIGKILL at a random moment, reopens the store and reads the whole volume back.

Every commit covers all operations issued before it, so the durable content must equal the
content after some prefix of the operations, at least as long as the acknowledged one: a torn
stripe, a torn write or a lost acknowledged write would match no prefix.

Run as a script (`python test_volume_crash.py child <dir> <round> <ack log>`) it is the child.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Final

import pytest

from thecloud.core.errors import NotFoundError
from thecloud.dataplane.volume import DirectoryDomain, Volume, VolumeStore

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STRIPE: Final = 64 << 10
SIZE: Final = 32 * STRIPE
ROUNDS: Final = 20
#: The child flushes at least this often, so the durable prefix is at most this far past the
#: acknowledged one.
FLUSH_EVERY: Final = 16


def domains(root: Path) -> list[Path]:
    return [root / f"disk{i}" for i in range(6)]


def open_store(root: Path) -> VolumeStore:
    return VolumeStore.open(root / "meta", domains(root), stripe_size=STRIPE, write_back=4 * STRIPE)


def operation(round_: int, index: int) -> tuple[str, int, bytes | int]:
    """The index-th operation of a round: ("write", offset, data) or ("trim", offset, length)."""
    rng = random.Random(round_ * 1_000_003 + index)
    length = rng.choice([rng.randint(1, 600), rng.randint(1, 3 * STRIPE), STRIPE])
    offset = rng.randint(0, SIZE - length)
    if rng.random() < 0.15:
        return ("trim", offset, length)
    return ("write", offset, rng.randbytes(length))


def apply(model: bytearray, op: tuple[str, int, bytes | int]) -> None:
    _, offset, payload = op
    data = bytes(payload) if isinstance(payload, int) else payload
    model[offset : offset + len(data)] = data


def child(root: Path, round_: int, ack_log: Path) -> None:
    """Writes until killed; logs each flush's acknowledged operation count durably."""
    store = open_store(root)
    try:
        volume: Volume = store.open_volume("crash")
    except NotFoundError:
        volume = store.create("crash", SIZE)
    acks = os.open(ack_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    print("ready", flush=True)
    rng = random.Random(round_)
    index = 0
    while True:
        _, offset, payload = operation(round_, index)
        if isinstance(payload, int):
            volume.trim(offset, payload)
        else:
            volume.pwrite(payload, offset)
        index += 1
        if index % FLUSH_EVERY == 0 or rng.random() < 0.2:
            volume.flush()
            os.write(acks, f"{index}\n".encode())
            os.fsync(acks)


def acknowledged(ack_log: Path) -> int:
    lines = ack_log.read_text().split() if ack_log.exists() else []
    return int(lines[-1]) if lines else 0


def durable_prefix(
    model: bytearray, content: bytes, round_: int, acked: int
) -> tuple[bytearray, int]:
    """The model after the shortest prefix (>= acked operations) that matches `content`, and
    that prefix's length."""
    state = bytearray(model)
    for index in range(acked):
        apply(state, operation(round_, index))
    for index in range(acked, acked + FLUSH_EVERY + 1):
        if state == content:
            return state, index
        apply(state, operation(round_, index))
    torn = [
        s
        for s in range(SIZE // STRIPE)
        if content[s * STRIPE : (s + 1) * STRIPE] != state[s * STRIPE : (s + 1) * STRIPE]
    ]
    raise AssertionError(
        f"round {round_}: content matches no prefix of >= {acked} operations (stripes {torn})"
    )


def test_flushed_writes_survive_sigkill_and_no_stripe_is_torn(tmp_path: Path) -> None:
    rng = random.Random(2024)
    model = bytearray(SIZE)
    acked_total = 0
    for round_ in range(ROUNDS):
        ack_log = tmp_path / f"acks-{round_}"
        command = [sys.executable, __file__, "child", str(tmp_path), str(round_), str(ack_log)]
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None and proc.stderr is not None
        ready = proc.stdout.readline()
        assert ready == b"ready\n", proc.stderr.read().decode()
        time.sleep(rng.uniform(0.0, 0.4))
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL, err.decode()

        acked = acknowledged(ack_log)
        with open_store(tmp_path) as store:
            volume = store.open_volume("crash")
            content = volume.pread(SIZE, 0)
            allocated = volume.allocated_stripes
        model, durable = durable_prefix(model, content, round_, acked)
        print(f"round {round_}: {acked} operations acknowledged, {durable} durable")
        # The reopen swept the orphans of the interrupted flush: exactly k + m blobs per stripe.
        blobs = sum(1 for disk in domains(tmp_path) for _ in DirectoryDomain(disk).list_blobs())
        assert blobs == 6 * allocated
        acked_total += acked

    assert acked_total > 0
    with open_store(tmp_path) as store:
        assert store.open_volume("crash").pread(SIZE, 0) == bytes(model)
        report = store.scrub()
        assert report.healthy and not report.problems and report.orphans_removed == 0


if __name__ == "__main__" and sys.argv[1:2] == ["child"]:
    child(Path(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4]))
