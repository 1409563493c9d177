"""RevocationList.run stops when cancelled, even if a channel read swallows the cancellation
(as a redis-py pubsub read racing with its own timeout can)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from shared import revocations as revocations_module
from shared.revocations import READ_SLICE_SECONDS, RevocationList


class SwallowingPubSub:
    """A pubsub whose reads eat a cancellation and return as if they had timed out."""

    def __init__(self, reads: list[float]) -> None:
        self.reads = reads

    async def __aenter__(self) -> SwallowingPubSub:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        return None

    async def subscribe(self, _channel: str) -> None:
        return None

    async def get_message(self, *, ignore_subscribe_messages: bool, timeout: float) -> Any:
        self.reads.append(timeout)
        with contextlib.suppress(asyncio.CancelledError):  # the swallow
            await asyncio.sleep(timeout)
        return None


class FakeRedis:
    def __init__(self, reads: list[float]) -> None:
        self.reads = reads

    def pubsub(self) -> SwallowingPubSub:
        return SwallowingPubSub(self.reads)

    async def scan_iter(self, **_kwargs: Any) -> AsyncIterator[bytes]:
        for _ in ():
            yield b""

    async def mget(self, _keys: list[bytes]) -> list[bytes | None]:
        return []

    async def aclose(self) -> None:
        return None


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    timeouts: list[float] = []

    class FakeRedisClass:
        @staticmethod
        def from_url(_url: str, **_kwargs: Any) -> FakeRedis:
            return FakeRedis(timeouts)

    monkeypatch.setattr(revocations_module, "Redis", FakeRedisClass)
    return timeouts


async def test_a_swallowed_cancellation_still_ends_the_sync(reads: list[float]) -> None:
    """One cancel, eaten by the read, is honoured when the read returns: the task ends without
    anyone cancelling it again (cancel_and_wait stays as the backstop)."""
    revocations = RevocationList("redis://unused", resync_seconds=0.05)
    task = asyncio.create_task(revocations.run())
    await asyncio.wait_for(revocations.synced.wait(), timeout=10)
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=10)
    assert task in done and task.cancelled()


async def test_channel_reads_are_short_slices(reads: list[float]) -> None:
    """Never one read per resync interval (60 s by default): at most one slice each."""
    revocations = RevocationList("redis://unused")
    task = asyncio.create_task(revocations.run())
    await asyncio.wait_for(revocations.synced.wait(), timeout=10)
    task.cancel()
    await asyncio.wait([task], timeout=10)
    assert reads and all(timeout <= READ_SLICE_SECONDS for timeout in reads)
