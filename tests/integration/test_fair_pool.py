"""Connections go to whoever asked first (shared.fair_pool), against the real PostgreSQL.

The race: a connection comes back while one request waits for it and another, newer one is
already scheduled to ask. asyncpg's own pool lets the newcomer take it (the waiter queues again
at the back, MagicStack/asyncpg#1247); FairPool gives it to the waiter. A pool `reset` hook that
schedules the newcomer runs inside the release, just before the connection is handed back, which
sets the race up the same way every time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import asyncpg
import pytest

from shared.db import connection, create_pool
from shared.errors import Unavailable
from shared.fair_pool import FairPool
from shared.settings import Settings

PoolFactory = Callable[..., Awaitable[asyncpg.Pool]]


async def _asyncpg_pool(dsn: str, **kwargs: object) -> asyncpg.Pool:
    return await asyncpg.create_pool(dsn, **kwargs)


async def _fair_pool(dsn: str, **kwargs: object) -> asyncpg.Pool:
    return await FairPool(dsn, **kwargs)


async def _who_gets_the_released_connection(dsn: str, make_pool: PoolFactory) -> list[str]:
    newcomer_asks = asyncio.Event()

    async def reset(_conn: asyncpg.Connection) -> None:
        newcomer_asks.set()  # scheduled now: ahead of the waiter, woken when the connection is back

    pool = await make_pool(dsn, min_size=0, max_size=1, reset=reset)
    order: list[str] = []

    async def take(name: str) -> None:
        conn = await pool.acquire(timeout=5)
        order.append(name)
        await conn.fetchval("SELECT 1")
        await pool.release(conn)

    async def newcomer() -> None:
        await newcomer_asks.wait()
        await take("newcomer")

    try:
        held = await pool.acquire(timeout=5)
        waiter = asyncio.create_task(take("waiter"))
        late = asyncio.create_task(newcomer())
        for _ in range(20):  # until the waiter is parked in acquire (no I/O before it parks)
            await asyncio.sleep(0)
        assert order == []
        await pool.release(held)
        await asyncio.wait_for(asyncio.gather(waiter, late), timeout=10)
    finally:
        await pool.close()
    return order


async def test_a_released_connection_goes_to_the_longest_waiter(test_settings: Settings) -> None:
    order = await _who_gets_the_released_connection(test_settings.database_url, _fair_pool)
    assert order == ["waiter", "newcomer"]


async def test_asyncpg_alone_lets_a_newcomer_jump_the_queue(test_settings: Settings) -> None:
    """Why FairPool exists; when an asyncpg upgrade makes this fail, FairPool can go."""
    order = await _who_gets_the_released_connection(test_settings.database_url, _asyncpg_pool)
    assert order == ["newcomer", "waiter"]


async def test_every_turn_comes_back_under_contention(test_settings: Settings) -> None:
    """Many more users than connections, some failing: afterwards every connection is free."""
    pool = await create_pool(test_settings.database_url, min_size=0, max_size=3)

    async def use(i: int) -> int:
        async with pool.acquire(timeout=10) as conn:
            if i % 7 == 0:
                with pytest.raises(asyncpg.PostgresError):
                    await conn.fetchval("SELECT 1 / 0")
            return await conn.fetchval("SELECT $1::int", i)

    try:
        results = await asyncio.gather(*(use(i) for i in range(200)))
        assert results == list(range(200))
        held = [await pool.acquire(timeout=5) for _ in range(3)]  # all three are free again
        with pytest.raises(TimeoutError):
            await pool.acquire(timeout=0.2)  # and there is no fourth
        for conn in held:
            await pool.release(conn)
    finally:
        await pool.close()


async def test_a_pool_that_cannot_connect_is_unavailable_and_keeps_its_turns() -> None:
    """Failed connects give their turn back: the next caller gets the same refusal, not a wait
    for a turn that never comes (that would end in a timeout instead)."""
    pool = await create_pool("postgresql://nobody@127.0.0.1:1/none", min_size=0, max_size=1)
    try:
        for _ in range(3):
            with pytest.raises(Unavailable) as caught:
                async with connection(pool, timeout=2):
                    pass
            cause = caught.value.__cause__
            assert isinstance(cause, ConnectionRefusedError), cause
    finally:
        await pool.close()
