"""Chaos (issue 17): the Publisher when the broker stops answering or crashes. A publish must end
(raise) within its timeout, never hang: the outbox relay's retry loop can only retry what
raises, so one publish waiting forever for a confirm stalls the whole outbox. Once the broker
answers again, publishes go through, on a new channel. A node of the test's own."""

from __future__ import annotations

import asyncio

import pytest

from shared.amqp import CUSTOMER_CREATED, CUSTOMER_EVENTS_EXCHANGE, Publisher
from tests.support.private_rabbitmq import private_broker
from tests.support.waiting import eventually

# A guard against a hang only: each publish ends within its own 1 s timeouts long before.
HANG_GUARD = 30


async def pipeline(publisher: Publisher, size: int = 50) -> list[object]:
    """Publishes in flight together, as the outbox relay sends them; their outcomes."""
    async with asyncio.timeout(HANG_GUARD):
        return await asyncio.gather(
            *(
                publisher.publish(CUSTOMER_EVENTS_EXCHANGE, CUSTOMER_CREATED, {"n": n})
                for n in range(size)
            ),
            return_exceptions=True,
        )


async def publishes_again(publisher: Publisher) -> None:
    async def published() -> bool:
        guard = asyncio.timeout(HANG_GUARD)
        try:
            async with guard:
                await publisher.publish(CUSTOMER_EVENTS_EXCHANGE, CUSTOMER_CREATED, {})
        except Exception:
            if guard.expired():
                pytest.fail("a publish hung after the broker came back")
            return False
        return True

    await eventually(published, timeout=120, interval=0.5)


async def test_a_publish_the_broker_never_confirms_raises_and_a_new_channel_takes_over():
    with private_broker() as node:
        publisher = Publisher(node.url, open_timeout=1, publish_timeout=1)
        try:
            await publisher.publish(CUSTOMER_EVENTS_EXCHANGE, CUSTOMER_CREATED, {"n": 0})
            await asyncio.to_thread(node.pause)  # takes frames, answers nothing
            try:
                outcomes = await pipeline(publisher)
            finally:
                node.resume()
            assert all(isinstance(outcome, TimeoutError) for outcome in outcomes), outcomes
            await publishes_again(publisher)
        finally:
            await publisher.close()


async def test_a_publish_after_a_broker_crash_raises_and_works_once_the_broker_is_back():
    with private_broker() as node:
        publisher = Publisher(node.url, open_timeout=1, publish_timeout=1)
        try:
            await publisher.publish(CUSTOMER_EVENTS_EXCHANGE, CUSTOMER_CREATED, {"n": 0})
            await asyncio.to_thread(node.crash)
            for _ in range(3):
                outcomes = await pipeline(publisher)
                assert all(isinstance(outcome, Exception) for outcome in outcomes), outcomes
            await asyncio.to_thread(node.start)
            await publishes_again(publisher)
        finally:
            await publisher.close()

        # Every connection it dropped on the way is closed: no reconnect task outlives it.
        await no_task_left_running()


async def test_a_publish_cancelled_while_its_connection_is_dropped_leaves_nothing_running():
    """A service stopping while a timed-out publish drops its connection (the relay task is
    cancelled then): after `close`, nothing of the dropped connection runs on (no reader, no
    heartbeat, no reconnect loop), so the app's shutdown leaves no task behind."""
    with private_broker() as node:
        publisher = Publisher(node.url, open_timeout=2, publish_timeout=1)
        try:
            await publisher.publish(CUSTOMER_EVENTS_EXCHANGE, CUSTOMER_CREATED, {"n": 0})
            await asyncio.to_thread(node.pause)  # the drop's channel close waits in vain
            try:
                publish = asyncio.create_task(
                    publisher.publish(CUSTOMER_EVENTS_EXCHANGE, CUSTOMER_CREATED, {"n": 1})
                )
                # Timed out, now dropping its channel and connection (up to open_timeout).
                await eventually(lambda: publisher._channel is None, timeout=HANG_GUARD)
                assert not publish.done()
                publish.cancel()
                await asyncio.gather(publish, return_exceptions=True)
            finally:
                node.resume()
        finally:
            await publisher.close()
        await no_task_left_running()


async def no_task_left_running() -> None:
    """No task but the test's own runs on (the client's own closing tasks end within a few
    loop turns; a reader, heartbeat or reconnect loop of a connection left open never does)."""

    def others() -> set[asyncio.Task]:
        return asyncio.all_tasks() - {asyncio.current_task()}

    await eventually(lambda: not others(), timeout=5, what="no task left running")
