"""The asyncpg pool, JSON codecs, and the tenant-scoped transaction every customer query runs in."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import orjson

from shared.errors import Unavailable

# The role customer queries run as. customer_service and impex_worker log in as it (0008: it
# owns nothing and cannot bypass row-level security); every tenant transaction also switches to it,
# so RLS applies even on a pool that logs in as the owner (tests, tools).
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


class _Connection(asyncpg.Connection):
    """A pooled connection that knows whether its session may carry state into its next use."""

    __slots__ = ("_clean_session",)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._clean_session = False

    def mark_clean_session(self) -> None:
        """The last use was one tenant transaction, ended by COMMIT or ROLLBACK: everything it
        set was local to that transaction, so the session is as the previous reset left it."""
        self._clean_session = True


async def _reset(conn: _Connection) -> None:
    """The pool's reset on release. asyncpg has rolled back any open transaction already; its
    reset query (unlock advisory locks, close cursors, UNLISTEN, RESET ALL) costs a round trip
    on every release, so it runs only after a use that may have left session state behind. A
    tenant transaction sends the same query ahead of its BEGIN, in the same round trip."""
    clean, conn._clean_session = conn._clean_session, False
    if not clean:
        await conn.execute(conn.get_reset_query())


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
        connection_class=_Connection,
        reset=_reset,
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


# Tenant ids are [A-Za-z0-9_-]{1,64} (shared.authz.TENANT_ID_RE): safe inside a SQL literal.
_LITERAL_SAFE_TENANT = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SET_TENANT = "SELECT set_config('role', $1, true), set_config('app.tenant', $2, true)"


def _begin_statement(conn: asyncpg.Connection, tenant: str) -> str | None:
    """The reset, BEGIN and the tenant settings as one simple-protocol message (one round trip
    instead of three), or None for a tenant id that must not appear in a literal."""
    if not _LITERAL_SAFE_TENANT.fullmatch(tenant):
        return None
    return (
        f"{conn.get_reset_query()}BEGIN;"
        f"SELECT set_config('role', '{APP_ROLE}', true), set_config('app.tenant', '{tenant}', true)"
    )


@asynccontextmanager
async def tenant_transaction(
    pool: asyncpg.Pool, tenant: str, *, timeout: float = 5.0
) -> AsyncIterator[asyncpg.Connection]:
    """One transaction as the app role with `app.tenant` set: row-level security sees one tenant.

    Three round trips: reset + BEGIN + settings, the caller's statements, COMMIT (ROLLBACK on an
    error). Both settings are transaction-local (`set_config(..., true)`), so they end with the
    transaction; the session is reset before it begins, so nothing a previous user of the
    connection set reaches it. Inside, keep to transaction-local state (SET LOCAL)."""
    async with connection(pool, timeout=timeout) as conn:
        try:
            begin = _begin_statement(conn, tenant)
            if begin is None:
                await conn.execute(f"{conn.get_reset_query()}BEGIN")
                await conn.execute(_SET_TENANT, APP_ROLE, tenant)
            else:
                await conn.execute(begin)
            try:
                yield conn
            except BaseException:
                # Best effort: if it fails (a lost connection, a cancelled query still running),
                # the pool's release rolls back or closes the connection.
                with contextlib.suppress(Exception):
                    await conn.execute("ROLLBACK")
                raise
            await conn.execute("COMMIT")
            conn.mark_clean_session()
        except CONNECTION_ERRORS as exc:
            raise Unavailable("The database is not available.") from exc


async def ping(pool: asyncpg.Pool) -> None:
    """Readiness probe: one trivial query."""
    async with connection(pool, timeout=2.0) as conn:
        await conn.fetchval("SELECT 1")
