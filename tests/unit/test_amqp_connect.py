"""A first connect that is cancelled (a service stopped or a test ended while it was under way)
leaves nothing behind: aio-pika's reconnect task swallows a cancellation and retries forever,
which kept the event loop from ever closing."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from shared.amqp import connect


@contextlib.asynccontextmanager
async def silent_broker() -> AsyncIterator[tuple[int, asyncio.Event]]:
    """A TCP port that accepts connections and never says a word: a connect hangs in the
    handshake, so a test can cancel it there, deterministically."""
    accepted = asyncio.Event()
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        accepted.set()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], accepted
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


def _aio_pika_tasks() -> list[asyncio.Task]:
    return [
        task
        for task in asyncio.all_tasks()
        if "aio_pika" in getattr(task.get_coro(), "__qualname__", "")
        or "RobustConnection" in getattr(task.get_coro(), "__qualname__", "")
    ]


async def test_a_cancelled_first_connect_leaves_no_reconnect_task() -> None:
    async with silent_broker() as (port, accepted):
        attempt = asyncio.create_task(connect(f"amqp://guest:guest@127.0.0.1:{port}/"))
        await accepted.wait()
        assert _aio_pika_tasks(), "the connect under way has its reconnect task"

        attempt.cancel()
        with pytest.raises(asyncio.CancelledError):
            await attempt

        assert _aio_pika_tasks() == []
