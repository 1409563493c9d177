"""The asyncpg pool, JSON codecs, and the tenant-scoped transaction every customer query runs in."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

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


@asynccontextmanager
async def tenant_transaction(
    pool: asyncpg.Pool, tenant: str, *, timeout: float = 5.0
) -> AsyncIterator[asyncpg.Connection]:
    """One transaction as the app role with `app.tenant` set: row-level security sees one tenant."""
    async with connection(pool, timeout=timeout) as conn:
        try:
            async with conn.transaction():
                await conn.execute(
                    "SELECT set_config('role', $1, true), set_config('app.tenant', $2, true)",
                    APP_ROLE,
                    tenant,
                )
                yield conn
        except CONNECTION_ERRORS as exc:
            raise Unavailable("The database is not available.") from exc


async def ping(pool: asyncpg.Pool) -> None:
    """Readiness probe: one trivial query."""
    async with connection(pool, timeout=2.0) as conn:
        await conn.fetchval("SELECT 1")
