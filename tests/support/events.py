"""Reading the suite's events off a test's own RabbitMQ queue."""

from __future__ import annotations

import asyncio

import orjson
from aio_pika.abc import AbstractQueue


async def events_of(
    queue: AbstractQueue, tenant: str, count: int, timeout: float = 10.0
) -> list[dict]:
    """The next `count` events of `tenant` on `queue` (others are acked and skipped); fails
    after `timeout` seconds."""
    found: list[dict] = []
    async with asyncio.timeout(timeout):
        async with queue.iterator() as messages:
            async for message in messages:
                await message.ack()
                body = orjson.loads(message.body)
                if body["tenant"] == tenant:
                    found.append(body)
                if len(found) == count:
                    return found
    return found
