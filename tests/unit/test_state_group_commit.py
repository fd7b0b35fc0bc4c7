"""Group commit: concurrent requests share batches; answers wait for them; failures stay local."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from thecloud.core.errors import ConflictError, StateError, TheCloudError
from thecloud.core.state.group_commit import GroupCommitter

pytestmark = [pytest.mark.unit, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    """Run on asyncio, the loop the control plane uses."""
    return "asyncio"


class Recorder:
    """An apply_batch that records its batches, fails on request, and can be held open."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.release = threading.Event()
        self.release.set()
        self.explode = False

    def apply(self, requests: Sequence[int]) -> list[int | TheCloudError]:
        self.release.wait(timeout=10)
        if self.explode:
            raise OSError("disk on fire")
        self.batches.append(list(requests))
        return [ConflictError(f"odd {r}") if r % 2 else r * 10 for r in requests]


async def test_requests_arriving_during_a_commit_share_the_next_batch() -> None:
    recorder = Recorder()
    committed: list[int] = []
    with ThreadPoolExecutor(max_workers=1) as executor:
        committer: GroupCommitter[int, int] = GroupCommitter(
            recorder.apply, executor, on_committed=lambda: committed.append(1)
        )
        recorder.release.clear()
        first = asyncio.create_task(committer.submit(0))
        await asyncio.sleep(0.05)
        rest = [asyncio.create_task(committer.submit(2 * i)) for i in range(1, 50)]
        await asyncio.sleep(0.05)
        assert not first.done()
        recorder.release.set()
        assert await first == 0
        assert await asyncio.gather(*rest) == [20 * i for i in range(1, 50)]
        assert recorder.batches == [[0], [2 * i for i in range(1, 50)]]
        assert len(committed) == 2
        await committer.close()


async def test_a_failed_request_fails_alone_and_a_failed_batch_fails_all() -> None:
    recorder = Recorder()
    with ThreadPoolExecutor(max_workers=1) as executor:
        committer: GroupCommitter[int, int] = GroupCommitter(
            recorder.apply, executor, on_committed=lambda: None
        )
        results = await asyncio.gather(
            committer.submit(2), committer.submit(3), return_exceptions=True
        )
        assert results[0] == 20
        assert isinstance(results[1], ConflictError)
        recorder.explode = True
        failures = await asyncio.gather(
            committer.submit(4), committer.submit(6), return_exceptions=True
        )
        assert all(isinstance(failure, StateError) for failure in failures)
        assert all("disk on fire" in str(failure) for failure in failures)
        recorder.explode = False
        assert await committer.submit(8) == 80
        await committer.close()
        with pytest.raises(StateError, match="closed"):
            await committer.submit(10)
