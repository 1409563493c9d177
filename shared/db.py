"""The asyncpg pool, JSON codecs, and the tenant-scoped transaction every customer query runs in."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import asyncpg
import orjson

from shared.errors import Unavailable

# The role customer queries run as, so PostgreSQL row-level security applies even though the
# pool logs in as the owner. Created by the migrations.
APP_ROLE = "customer_suite_app"

# What a database that is down, restarting or unreachable raises on connect or query.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,
)


async def _init_connection(conn: asyncpg.Connection) -> None:
    # Binary jsonb: a version byte, then the JSON text. orjson is several times faster than json.
    for type_name in ("jsonb",):
        await conn.set_type_codec(
            type_name,
            schema="pg_catalog",
            encoder=lambda value: b"\x01" + orjson.dumps(value),
            decoder=lambda data: orjson.loads(data[1:]),
            format="binary",
        )


async def create_pool(
    dsn: str, *, min_size: int = 1, max_size: int = 10, command_timeout: float = 10.0
) -> asyncpg.Pool:
    """A pool that starts even if PostgreSQL is not up yet: connections are made on demand,
    and `min_size` of them are warmed up in the background."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=0,
        max_size=max_size,
        command_timeout=command_timeout,
        init=_init_connection,
        max_inactive_connection_lifetime=300.0,
    )
    if min_size > 0:
        asyncio.get_running_loop().create_task(_warm_up(pool, min_size))
    return pool


async def _warm_up(pool: asyncpg.Pool, count: int) -> None:
    try:
        connections = [await pool.acquire(timeout=5) for _ in range(count)]
        for conn in connections:
            await pool.release(conn)
    except Exception:  # warming up is an optimisation; requests will connect on demand
        return


@asynccontextmanager
async def connection(
    pool: asyncpg.Pool, *, timeout: float = 5.0
) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection; a database that does not answer becomes a quick 503."""
    try:
        conn = await pool.acquire(timeout=timeout)
    except CONNECTION_ERRORS as exc:
        raise Unavailable("The database is not available.") from exc
    try:
        yield conn
    finally:
        await pool.release(conn)


_AS_TENANT = "SELECT set_config('role', $1, true), set_config('app.tenant', $2, true)"


@asynccontextmanager
async def tenant_transaction(
    pool: asyncpg.Pool, tenant: str, *, timeout: float = 5.0
) -> AsyncIterator[asyncpg.Connection]:
    """One transaction as the app role with `app.tenant` set: row-level security sees one tenant.

    Inside `joined_transaction` (same pool and tenant) it is a savepoint of that transaction."""
    joined = _JOINED.get()
    if joined is not None and joined.pool is pool and joined.tenant == tenant:
        conn = await joined.connection(timeout)
        try:
            async with conn.transaction():
                yield conn
        except CONNECTION_ERRORS as exc:
            raise Unavailable("The database is not available.") from exc
        return
    async with connection(pool, timeout=timeout) as conn:
        try:
            async with conn.transaction():
                await conn.execute(_AS_TENANT, APP_ROLE, tenant)
                yield conn
        except CONNECTION_ERRORS as exc:
            raise Unavailable("The database is not available.") from exc


@dataclass(slots=True)
class JoinedTransaction:
    """One tenant transaction that every `tenant_transaction` of the task joins, opened by the
    first of them (a request that never touches the database never takes a connection)."""

    pool: asyncpg.Pool
    tenant: str
    _conn: asyncpg.Connection | None = None
    _transaction: asyncpg.transaction.Transaction | None = None

    async def connection(self, timeout: float) -> asyncpg.Connection:
        if self._conn is None:
            try:
                conn = await self.pool.acquire(timeout=timeout)
            except CONNECTION_ERRORS as exc:
                raise Unavailable("The database is not available.") from exc
            try:
                transaction = conn.transaction()
                await transaction.start()
                await conn.execute(_AS_TENANT, APP_ROLE, self.tenant)
            except BaseException as exc:
                await self.pool.release(conn)
                if isinstance(exc, CONNECTION_ERRORS):
                    raise Unavailable("The database is not available.") from exc
                raise
            self._conn, self._transaction = conn, transaction
        return self._conn

    async def end(self, *, commit: bool) -> None:
        if self._conn is None or self._transaction is None:
            return
        try:
            if commit:
                await self._transaction.commit()
            else:
                await self._transaction.rollback()
        except CONNECTION_ERRORS as exc:
            raise Unavailable("The database is not available.") from exc
        finally:
            conn, self._conn, self._transaction = self._conn, None, None
            await self.pool.release(conn)


_JOINED: ContextVar[JoinedTransaction | None] = ContextVar("joined_transaction", default=None)


@asynccontextmanager
async def joined_transaction(pool: asyncpg.Pool, tenant: str) -> AsyncIterator[None]:
    """Everything the block writes through `tenant_transaction` commits at once when it ends
    (each of them a savepoint), or not at all if it raises: a request and its bookkeeping
    (customer_service.idempotency) cannot be split by a crash. Not for work run concurrently
    within the block (one connection)."""
    joined = JoinedTransaction(pool, tenant)
    token = _JOINED.set(joined)
    try:
        yield
    except BaseException:
        await joined.end(commit=False)
        raise
    else:
        await joined.end(commit=True)
    finally:
        _JOINED.reset(token)


@contextmanager
def separate_transactions() -> Iterator[None]:
    """Inside `joined_transaction`: transactions of this block commit on their own (a read that
    must not hold the joined connection while a long upload is received)."""
    token = _JOINED.set(None)
    try:
        yield
    finally:
        _JOINED.reset(token)


async def ping(pool: asyncpg.Pool) -> None:
    """Readiness probe: one trivial query."""
    async with connection(pool, timeout=2.0) as conn:
        await conn.fetchval("SELECT 1")
