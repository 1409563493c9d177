"""Stopping a service's background tasks never hangs its shutdown."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from shared.app_factory import cancel_and_wait


async def test_a_task_that_swallows_a_cancellation_is_cancelled_again() -> None:
    """A library that eats the first cancellation (as redis-py's pubsub read can) does not keep
    the task alive: it is cancelled again until it ends."""

    async def stubborn() -> None:
        with contextlib.suppress(asyncio.CancelledError):  # swallowed
            await asyncio.sleep(10)
        await asyncio.sleep(10)

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    await asyncio.wait_for(cancel_and_wait(task, retry_after=0.05), timeout=2)
    assert task.cancelled()


async def test_an_error_the_task_ended_with_is_raised() -> None:
    async def broken() -> None:
        raise ValueError("boom")

    task = asyncio.create_task(broken())
    await asyncio.sleep(0)
    with pytest.raises(ValueError, match="boom"):
        await cancel_and_wait(task)
