"""An asyncpg pool that hands out its connections in the order they were asked for.

asyncpg's `Pool.acquire` waits on an `asyncio.Queue`. When a connection comes back, the queue wakes
the longest waiter, but anyone who asks before that waiter runs takes the connection instead, and
the waiter queues again at the back (MagicStack/asyncpg#1247). Under load a few requests lose that
race over and over: `GET /customers/{id}` at 32 connections on a pool of 10 had a p99 seventeen
times its median, where a pool too big to be waited on had three times (README, Cost per
request).

`FairPool` puts a FIFO semaphore of `max_size` turns in front of asyncpg's own acquire: a
returned connection's turn passes straight to the longest waiter (asyncio.Semaphore hands a
released permit to its first waiter and lets no newcomer past while anyone waits), so asyncpg's
queue always holds a connection for whoever holds a turn.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy


class FairPool(asyncpg.Pool):
    """asyncpg.Pool with first-come, first-served acquires; built like `asyncpg.create_pool`
    (`await FairPool(dsn, max_size=…, …)`), used like any asyncpg pool."""

    __slots__ = ("_turns",)

    def __init__(
        self,
        dsn: str | None = None,
        *,
        max_size: int = 10,
        min_size: int = 10,
        max_queries: int = 50000,
        max_inactive_connection_lifetime: float = 300.0,
        connection_class: type[asyncpg.Connection] = asyncpg.Connection,
        record_class: type[asyncpg.Record] = asyncpg.Record,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            dsn,
            max_size=max_size,
            min_size=min_size,
            max_queries=max_queries,
            max_inactive_connection_lifetime=max_inactive_connection_lifetime,
            connection_class=connection_class,
            record_class=record_class,
            loop=None,
            **kwargs,
        )
        self._turns = asyncio.Semaphore(max_size)

    async def _acquire(self, timeout: float | None) -> Any:
        # Every acquire (acquire(), and fetch/execute on the pool) comes through here.
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        async with asyncio.timeout_at(deadline):
            await self._turns.acquire()
        try:
            remaining = None if deadline is None else max(0.0, deadline - loop.time())
            return await super()._acquire(remaining)
        except BaseException:
            self._turns.release()
            raise

    async def release(self, connection: Any, *, timeout: float | None = None) -> None:
        if not self._holds(connection):
            # No turn to give back: asyncpg refuses a stranger and ignores a second release.
            return await super().release(connection, timeout=timeout)
        try:
            return await super().release(connection, timeout=timeout)
        finally:
            self._turns.release()

    def _holds(self, connection: Any) -> bool:
        """Whether `connection` is one of this pool's, handed out and not yet released."""
        return (
            type(connection) is PoolConnectionProxy
            and connection._holder._pool is self
            and connection._con is not None
        )
