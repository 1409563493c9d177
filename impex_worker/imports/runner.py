"""Importing one batch: resumable, chunk by chunk, never by two workers at once.

- Ownership: a session advisory lock per batch, held by one connection for the whole run.
  PostgreSQL releases it when that connection ends, so a worker killed mid-import frees the
  batch at once for whoever receives the redelivered message.
- Checkpoint: each chunk commits its customers, row errors, outbox events and the batch's
  counters in one transaction, and only if the counters are still where the chunk started
  (checked under the batch row's lock). A resumed run skips the records already counted, so a
  chunk is applied exactly once whatever happens in between.
- Pipeline: while a chunk's transaction runs, the next chunk is read, and in the validation
  thread built (CSV), validated and prepared (each record's customer as created if nothing
  matches it, plan.prepare_chunk). The transaction itself looks up the chunk's keys, merges
  the few records that match a customer and writes; ANALYZE (after chunks 1, 2, 4, …) runs on
  its own connection beside the next chunks.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime

import asyncpg
import structlog

from impex_worker import metrics
from impex_worker.imports.checks import Checked, Valid, row_error
from impex_worker.imports.formats import FileUnreadable, Record, count_records, read_records
from impex_worker.imports.plan import IN_USE, ChunkPlan, lookup_keys, plan_chunk
from impex_worker.imports.sources import blocks_of
from impex_worker.imports.validation import Validator
from shared import db
from shared.amqp import IMPEX_BATCH_COMPLETED, IMPEX_BATCH_FAILED
from shared.customers.columns import unique_field
from shared.db import tenant_transaction
from shared.errors import Unavailable
from shared.events import imported_events
from shared.imports import batches
from shared.imports import chunks as repository
from shared.imports.lifecycle import end_batch
from shared.imports.representation import (
    ABORTED,
    COMPLETED,
    ERROR,
    PROCESSING,
    READY,
)
from shared.orders.service import attach_waiting_facts
from shared.timefmt import utcnow

log = structlog.get_logger("imports")

CHUNK_RECORDS = 5_000
# How long a worker waits for a batch another connection holds (a killed worker's connection
# may take a moment to go) before leaving the batch to that holder.
LOCK_WAIT_SECONDS = 30.0
# A chunk's statements may take a while on a loaded database; the pool default is for requests.
CHUNK_TIMEOUT_SECONDS = 300.0


class LostBatch(Exception):
    """The checkpoint moved under this worker: another one holds the batch now."""


class _Stopped(Exception):
    """The batch left PROCESSING while this worker imported it (aborted, most likely)."""

    def __init__(self, state: str | None) -> None:
        super().__init__(state)
        self.state = state


@dataclass(slots=True)
class _Validating:
    """A chunk submitted for validation: where it starts, its size, its time, and the result
    to come."""

    first_row: int
    count: int
    now: datetime  # the chunk's time (its customers' timestamps, its events)
    checked: asyncio.Future[Checked]


class BatchRunner:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        drop_dir: str,
        validator: Validator,
        chunk_records: int = CHUNK_RECORDS,
        lock_wait: float = LOCK_WAIT_SECONDS,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._pool = pool
        self._drop_dir = drop_dir
        self._validator = validator
        self._chunk_records = chunk_records
        self._lock_wait = lock_wait
        self._clock = clock

    async def run(self, tenant: str, batch_id: uuid.UUID) -> str | None:
        """Import the batch (or resume it); returns its end state, or None when there was
        nothing for this worker to do (unknown, not queued, ended, or busy elsewhere)."""
        async with self._lease(tenant, batch_id) as owned:
            if not owned:
                log.warning("batch is being imported by another worker")
                return None
            batch = await self._start(tenant, batch_id)
            if batch is None:
                return None
            # This attempt's time: a resumed batch counts from its resumption.
            started = time.monotonic()
            try:
                state = await self._run(tenant, batch)
            except _Stopped as stopped:
                # Ended meanwhile, not by this worker. An abort is counted here (the API that
                # ended it keeps no import metrics); an ERROR by whoever set it.
                if stopped.state == ABORTED:
                    _count_ended(ABORTED, started)
                return None
            _count_ended(state, started)
            return state

    async def _run(self, tenant: str, batch: asyncpg.Record) -> str:
        try:
            if batch["total"] is None:
                await self._count(tenant, batch)
            await self._import(tenant, batch)
        except FileUnreadable as exc:
            return await self._finish(tenant, batch["id"], ERROR, str(exc))
        return await self._finish(tenant, batch["id"], COMPLETED)

    async def note_failure(self, tenant: str, batch_id: uuid.UUID, error: BaseException) -> None:
        """Remember why an attempt failed, for the batch's ERROR message should the queue give
        up on it. Best effort; no exception text (it may hold personal data)."""
        if isinstance(error, (Unavailable, *db.CONNECTION_ERRORS)):
            message = "The database was not available."
        else:
            message = f"The import failed unexpectedly ({type(error).__name__})."
        with contextlib.suppress(Exception):
            async with tenant_transaction(self._pool, tenant) as conn:
                await batches.set_last_error(conn, tenant, batch_id, message)

    @contextlib.asynccontextmanager
    async def _lease(self, tenant: str, batch_id: uuid.UUID) -> AsyncIterator[bool]:
        key = repository.batch_lock_key(tenant, batch_id)
        async with db.connection(self._pool) as conn:
            await conn.execute(f"SET lock_timeout = {int(self._lock_wait * 1000)}")
            try:
                await conn.execute("SELECT pg_advisory_lock($1)", key, timeout=self._lock_wait + 5)
            except asyncpg.LockNotAvailableError:
                yield False
                return
            try:
                yield True
            finally:
                with contextlib.suppress(Exception):  # a lost connection released it already
                    await conn.execute("SELECT pg_advisory_unlock($1)", key)

    async def _start(self, tenant: str, batch_id: uuid.UUID) -> asyncpg.Record | None:
        async with tenant_transaction(self._pool, tenant) as conn:
            batch = await batches.fetch_batch(conn, tenant, "id", batch_id, for_update=True)
            if batch is None or batch["state"] not in (READY, PROCESSING):
                return None
            if batch["state"] == READY:
                batch = await batches.set_state(conn, tenant, batch_id, PROCESSING, self._clock())
        structlog.contextvars.bind_contextvars(resumed_at=batch["processed"])
        return batch

    async def _count(self, tenant: str, batch: asyncpg.Record) -> None:
        """A first pass: the total for progress, and an unreadable file found before anything
        is imported."""
        blocks = blocks_of(self._pool, tenant, batch, self._drop_dir)
        total = await count_records(batch["format"], blocks)
        async with tenant_transaction(self._pool, tenant) as conn:
            await repository.set_total(conn, tenant, batch["id"], total, self._clock())

    async def _import(self, tenant: str, batch: asyncpg.Record) -> None:
        """Every chunk from the checkpoint on; _Stopped if the batch left PROCESSING meanwhile.

        A producer reads chunks and submits them for preparation (validator.check), up to
        `validator.ahead` + 1 chunks in advance (bounded memory); this loop writes them strictly
        in order as they come back. A chunk's preparation may start once the chunk two before
        it has been planned (plan_chunk, in its transaction): preparing is pure Python, and
        while it runs beside a plan both wait for the GIL; started then, it runs while this
        loop waits for the database."""
        blocks = blocks_of(self._pool, tenant, batch, self._drop_dir)
        records = read_records(batch["format"], blocks, skip=batch["processed"], defer=True)
        validated: asyncio.Queue[_Validating | BaseException | None] = asyncio.Queue(
            maxsize=self._validator.ahead
        )
        permits = asyncio.Semaphore(self._validator.ahead + 1)
        producer = asyncio.create_task(self._produce(records, validated, permits))
        done = batch["processed"]
        written = 0
        # ANALYZE after the first chunk is awaited: until then the statistics may not know the
        # tenant at all, and the next chunk's key matches would be planned as scans of it. Later
        # ones run on their own connection beside the next chunks (one at a time): the
        # statistics they replace are at most a few times off.
        analyzing: asyncio.Task[None] | None = None
        try:
            while (item := await validated.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                if item.first_row != done + 1:  # the reader and the checkpoint disagree
                    raise LostBatch(f"chunk starts at {item.first_row}, checkpoint at {done}")
                checked = await item.checked
                planned = _once(permits.release)
                done = await self._write(tenant, batch, done, item, checked, planned)
                planned()
                written += 1
                if written == 1:
                    await repository.refresh_statistics(self._pool)
                elif written & (written - 1) == 0:  # after chunks 2, 4, 8, …
                    if analyzing is not None:
                        await analyzing
                    analyzing = asyncio.create_task(repository.refresh_statistics(self._pool))
            if analyzing is not None:
                await analyzing
        finally:
            if analyzing is not None and not analyzing.done():
                analyzing.cancel()
                with contextlib.suppress(BaseException):
                    await analyzing
            producer.cancel()
            with contextlib.suppress(BaseException):
                await producer
            while not validated.empty():
                item = validated.get_nowait()
                if isinstance(item, _Validating):
                    item.checked.cancel()

    async def _produce(
        self,
        records: AsyncIterator[list[Record]],
        validated: asyncio.Queue[_Validating | BaseException | None],
        permits: asyncio.Semaphore,
    ) -> None:
        try:
            async for chunk in self._chunks(records):
                await permits.acquire()
                now = self._clock()
                checking = asyncio.ensure_future(self._validator.check(chunk, now))
                await validated.put(_Validating(chunk[0].row, len(chunk), now, checking))
        except Exception as exc:  # handed to the writing side, which raises it
            await validated.put(exc)
            return
        await validated.put(None)

    async def _chunks(self, records: AsyncIterator[list[Record]]) -> AsyncIterator[list[Record]]:
        size = self._chunk_records
        pending: list[Record] = []
        async for block in records:
            pending.extend(block)
            while len(pending) >= size:
                yield pending[:size]
                pending = pending[size:]
        if pending:
            yield pending

    async def _write(
        self,
        tenant: str,
        batch: asyncpg.Record,
        start: int,
        chunk: _Validating,
        checked: Checked,
        planned: Callable[[], None] | None = None,
    ) -> int:
        """One chunk in one transaction, checkpoint included: its customers, row errors,
        `customer.imported` events and counters. Raises _Stopped (writing nothing) if the batch
        is no longer PROCESSING. `planned` is called once the chunk's plan is made."""
        batch_id = batch["id"]
        count, now = chunk.count, chunk.now
        async with tenant_transaction(self._pool, tenant, timeout=CHUNK_TIMEOUT_SECONDS) as conn:
            status = await repository.lock_batch(conn, tenant, batch_id)
            if status is None or status["state"] != PROCESSING:
                raise _Stopped(status["state"] if status is not None else None)
            if status["processed"] != start:
                raise LostBatch(f"checkpoint at {status['processed']}, expected {start}")
            keys = checked.keys or lookup_keys(checked.valid)
            plan = await self._apply(conn, tenant, checked.valid, keys, now, planned)
            # Order facts that named one of the chunk's customers before it existed: one
            # statement for the whole chunk.
            refs, emails, _ = keys
            await attach_waiting_facts(conn, tenant, refs, emails)
            errors = sorted([*checked.errors, *plan.errors], key=lambda error: error.row)
            await repository.add_row_errors(conn, tenant, batch_id, errors)
            events = imported_events(
                tenant=tenant, batch=batch, created=plan.created, updated=plan.updated, now=now
            )
            await repository.add_events(conn, tenant, events)
            advanced = await repository.advance(
                conn, tenant, batch_id, start=start, processed=count,
                imported=plan.imported, failed=len(errors), now=now,
            )  # fmt: skip
            if not advanced:
                raise LostBatch("the checkpoint moved")
        metrics.IMPORT_ROWS.labels("imported").inc(plan.imported)
        metrics.IMPORT_ROWS.labels("failed").inc(len(errors))
        return start + count

    async def _apply(
        self,
        conn: asyncpg.Connection,
        tenant: str,
        valid: list[Valid],
        keys: tuple[list[str], list[str], list[str]],
        now: datetime,
        planned: Callable[[], None] | None = None,
    ) -> ChunkPlan:
        try:
            async with db.savepoint(conn):
                return await self._apply_set(conn, tenant, valid, now, keys, planned)
        except asyncpg.UniqueViolationError:
            # A collision the plan could not foresee (a customer written concurrently through
            # the API, or identifiers passed between customers within the chunk): record by
            # record instead, each in a savepoint, a collision becoming that row's error.
            return await self._apply_one_by_one(conn, tenant, valid, now)

    async def _apply_set(
        self,
        conn: asyncpg.Connection,
        tenant: str,
        valid: list[Valid],
        now: datetime,
        keys: tuple[list[str], list[str], list[str]] | None = None,
        planned: Callable[[], None] | None = None,
    ) -> ChunkPlan:
        refs, emails, alternates = keys or lookup_keys(valid)
        stored = await repository.fetch_matches(conn, tenant, refs, emails, alternates)
        plan = plan_chunk(valid, stored, now=now)
        if planned is not None:
            planned()
        await repository.write_customers(conn, tenant, plan.inserts, plan.updates, now)
        return plan

    async def _apply_one_by_one(
        self, conn: asyncpg.Connection, tenant: str, valid: list[Valid], now: datetime
    ) -> ChunkPlan:
        plan = ChunkPlan()
        for record in valid:
            try:
                async with db.savepoint(conn):
                    one = await self._apply_set(conn, tenant, [record], now)
            except asyncpg.UniqueViolationError as exc:
                field = unique_field(exc.constraint_name)
                plan.errors.append(row_error(record.row, record.changes, {field: [IN_USE]}))
                continue
            plan.imported += one.imported
            plan.errors.extend(one.errors)
            plan.created.extend(one.created)
            plan.updated.extend(one.updated)
        return plan

    async def _finish(
        self, tenant: str, batch_id: uuid.UUID, state: str, message: str | None = None
    ) -> str:
        """End the batch and announce it; _Stopped if it was aborted meanwhile."""
        event_type = IMPEX_BATCH_COMPLETED if state == COMPLETED else IMPEX_BATCH_FAILED
        async with tenant_transaction(self._pool, tenant) as conn:
            batch = await batches.fetch_batch(conn, tenant, "id", batch_id, for_update=True)
            if batch is None or batch["state"] != PROCESSING:
                raise _Stopped(batch["state"] if batch is not None else None)
            await end_batch(
                conn, tenant, batch_id, state, self._clock(), error_message=message,
                event_type=event_type,
            )  # fmt: skip
        log.info("batch ended", state=state, processed=batch["processed"], failed=batch["failed"])
        return state


def _once(action: Callable[[], None]) -> Callable[[], None]:
    """`action`, run by the first call only."""
    called = False

    def run() -> None:
        nonlocal called
        if not called:
            called = True
            action()

    return run


def _count_ended(state: str, started: float) -> None:
    """A batch this worker saw end: its final state (no id: labels stay bounded and
    anonymous) and how long this attempt took."""
    metrics.IMPORT_BATCHES.labels(state).inc()
    metrics.IMPORT_BATCH_DURATION.observe(time.monotonic() - started)
