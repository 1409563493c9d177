"""The asyncpg pool, JSON codecs, and the tenant-scoped transaction every customer query runs in."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import asyncpg
import orjson

from shared.errors import Unavailable
from shared.fair_pool import FairPool
from shared.identifiers import is_tenant_id

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
    """A pooled connection that knows whether its session was reset since its last use."""

    __slots__ = ("_reset_deferred", "_tenant_transaction_done")

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._reset_deferred = False
        self._tenant_transaction_done = False

    def tenant_transaction_done(self) -> None:
        self._tenant_transaction_done = True

    def reset_done(self) -> None:
        self._reset_deferred = False


# Set while tenant_transaction acquires: its first message resets the session itself.
_ACQUIRING_FOR_TENANT: ContextVar[bool] = ContextVar("acquiring_for_tenant", default=False)


async def _reset(conn: _Connection) -> None:
    """The pool's reset on release. asyncpg's (unlock advisory locks, close cursors, UNLISTEN,
    RESET ALL) costs a round trip on every release. After a tenant transaction that ended with
    COMMIT or ROLLBACK it is deferred: the next tenant transaction sends it ahead of its BEGIN,
    in the same round trip, and any other user gets it when it acquires (`_setup`)."""
    done, conn._tenant_transaction_done = conn._tenant_transaction_done, False
    if done:
        conn._reset_deferred = True
    else:
        await conn.execute(conn.get_reset_query())


async def _setup(proxy: asyncpg.Connection) -> None:
    """On acquire: the deferred reset, unless a tenant transaction is acquiring (see `_reset`)."""
    if proxy._reset_deferred and not _ACQUIRING_FOR_TENANT.get():
        await proxy.execute(proxy.get_reset_query())
        proxy.reset_done()


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
    and `min_size` of them are warmed up in the background. Waiters get connections in the
    order they asked (shared.fair_pool)."""
    pool = await FairPool(
        dsn,
        min_size=0,
        max_size=max_size,
        command_timeout=command_timeout,
        init=_init_connection,
        connection_class=_Connection,
        reset=_reset,
        setup=_setup,
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


async def _acquire(
    pool: asyncpg.Pool, timeout: float, *, for_tenant: bool = False
) -> asyncpg.Connection:
    """A pooled connection. `for_tenant`: its user sets role and tenant itself before anything
    else, so a reset deferred by the previous tenant transaction is left to it (`_setup`)."""
    marker = _ACQUIRING_FOR_TENANT.set(for_tenant)
    try:
        return await pool.acquire(timeout=timeout)
    except CONNECTION_ERRORS as exc:
        raise Unavailable("The database is not available.") from exc
    finally:
        _ACQUIRING_FOR_TENANT.reset(marker)


@asynccontextmanager
async def connection(
    pool: asyncpg.Pool, *, timeout: float = 5.0
) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection; a database that does not answer becomes a quick 503."""
    conn = await _acquire(pool, timeout)
    try:
        yield conn
    finally:
        await pool.release(conn)


def _call_if_ours(conn: asyncpg.Connection, method: str) -> None:
    """Tell a connection of `create_pool`'s (a plain asyncpg pool's have no such methods)."""
    mark = getattr(conn, method, None)
    if mark is not None:
        mark()


_SET_TENANT = "SELECT set_config('role', $1, true), set_config('app.tenant', $2, true)"


@asynccontextmanager
async def tenant_transaction(
    pool: asyncpg.Pool, tenant: str, *, timeout: float = 5.0
) -> AsyncIterator[asyncpg.Connection]:
    """One transaction as the app role with `app.tenant` set: row-level security sees one tenant.

    Three round trips: session reset + BEGIN + settings in one simple-protocol message, the
    caller's statements, COMMIT (ROLLBACK on an error). Both settings are transaction-local
    (`set_config(..., true)`), so they end with the transaction; the session is reset before it
    begins, so nothing an earlier user of the connection set reaches it, and the pool resets it
    again before anyone but a tenant transaction uses it next (`_reset`, `_setup`).

    The transaction is begun by hand, so asyncpg's `conn.transaction()` cannot nest in it: use
    `savepoint(conn)` for a block that may fail on its own. Inside `joined_transaction` (same
    pool and tenant) it is a savepoint of that transaction, which asyncpg began."""
    joined = _JOINED.get()
    if joined is not None and joined.pool is pool and joined.tenant == tenant:
        joined_conn = await joined.connection(timeout)
        try:
            async with joined_conn.transaction():
                yield joined_conn
        except CONNECTION_ERRORS as exc:
            raise Unavailable("The database is not available.") from exc
        return
    conn = await _acquire(pool, timeout, for_tenant=True)
    try:
        reset = conn.get_reset_query()
        if is_tenant_id(tenant):  # its alphabet is safe inside a SQL literal
            await conn.execute(
                f"{reset}BEGIN;SELECT set_config('role', '{APP_ROLE}', true), "
                f"set_config('app.tenant', '{tenant}', true)"
            )
        else:  # never from the API (tenant ids are checked), but never inside a literal either
            await conn.execute(f"{reset}BEGIN")
            await conn.execute(_SET_TENANT, APP_ROLE, tenant)
        _call_if_ours(conn, "reset_done")
        try:
            yield conn
        except BaseException:
            # Best effort: if it fails (a lost connection, a cancelled query still running),
            # the pool's release rolls back or closes the connection.
            with contextlib.suppress(Exception):
                await conn.execute("ROLLBACK")
            raise
        await conn.execute("COMMIT")
        _call_if_ours(conn, "tenant_transaction_done")
    except CONNECTION_ERRORS as exc:
        raise Unavailable("The database is not available.") from exc
    finally:
        await pool.release(conn)


async def tenant_fetchrow(
    pool: asyncpg.Pool, query: str, tenant: str, *args: object, timeout: float = 5.0
) -> asyncpg.Record | None:
    """One row from one statement that sets its tenant ($1, `tenant`) itself,
    transaction-locally, before it reads (a function such as customer.live_customer_by_id): one
    round trip instead of a tenant transaction's three. The statement is its own implicit
    transaction, so its settings end with it and the session needs no reset for the next tenant
    transaction; nor before: a reset deferred by an earlier tenant transaction is left to the
    next user that needs one.

    Inside `joined_transaction` of the same pool and tenant it runs on the joined connection, in
    a savepoint like `tenant_transaction` there (it sees what the block wrote)."""
    joined = _JOINED.get()
    if joined is not None and joined.pool is pool and joined.tenant == tenant:
        joined_conn = await joined.connection(timeout)
        try:
            async with joined_conn.transaction():
                return await joined_conn.fetchrow(query, tenant, *args)
        except CONNECTION_ERRORS as exc:
            raise Unavailable("The database is not available.") from exc
    conn = await _acquire(pool, timeout, for_tenant=True)
    try:
        try:
            row = await conn.fetchrow(query, tenant, *args)
        except CONNECTION_ERRORS as exc:
            raise Unavailable("The database is not available.") from exc
        _call_if_ours(conn, "tenant_transaction_done")
        return row
    finally:
        await pool.release(conn)


@asynccontextmanager
async def savepoint(conn: asyncpg.Connection) -> AsyncIterator[None]:
    """A block inside a tenant transaction that an error undoes on its own: rolled back to the
    savepoint, the error raised, the transaction still usable."""
    await conn.execute("SAVEPOINT cs_block")
    try:
        yield
    except BaseException:
        # If this fails too (a lost connection), the next statement says so.
        with contextlib.suppress(Exception):
            await conn.execute("ROLLBACK TO SAVEPOINT cs_block")
        raise
    await conn.execute("RELEASE SAVEPOINT cs_block")


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
                await conn.execute(_SET_TENANT, APP_ROLE, self.tenant)
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


def in_joined_transaction() -> bool:
    """Whether this task's tenant transactions join one (`joined_transaction`): one connection,
    so its work must not run concurrently."""
    return _JOINED.get() is not None


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
