"""Publishes committed outbox rows to RabbitMQ with publisher confirms, then marks them sent.

Woken by NOTIFY on commit (and a slow poll as a safety net). Rows are claimed with
FOR UPDATE SKIP LOCKED, so several replicas can relay side by side. Delivery is at least once:
a crash between confirm and mark re-publishes, and consumers dedupe by eventId.

Rows are claimed by priority, then in commit order: an import's per-row events (priority 1) wait
behind everything else, so a deleted customer or a queued batch never waits for an import's
backlog to drain (0005_outbox_priority.sql).

A row the broker refuses (an exchange that does not exist, a name it cannot encode) must not
hold back the rows behind it: its refusals are counted, the other rows still go out, and after
`max_attempts` refusals it is parked (0010_outbox_parking.sql): left unsent, out of the claim.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime

import asyncpg
import structlog
from aiormq.exceptions import AMQPChannelError

from customer_service import metrics
from shared.amqp import SHOPPER_OTP_REQUESTED, Publisher
from shared.db import connection
from shared.retry import Backoff
from shared.web import REQUEST_ID_HEADER

log = structlog.get_logger("outbox")

# Walks outbox_unsent_idx (priority, id) and stops after $1 rows, however large the backlog.
CLAIM_UNSENT = """
SELECT id, exchange, routing_key, payload, request_id FROM customer.outbox
WHERE sent_at IS NULL AND parked_at IS NULL ORDER BY priority, id LIMIT $1 FOR UPDATE SKIP LOCKED
"""
# A one-time code leaves the store once the broker has it (API.md §10): its event is kept, blanked.
MARK_SENT = f"""
UPDATE customer.outbox SET sent_at = now(),
    payload = CASE WHEN routing_key = '{SHOPPER_OTP_REQUESTED}'
        THEN jsonb_set(payload, '{{code}}', '""') ELSE payload END
WHERE id = ANY($1::bigint[])
"""
# A parked one-time code is blanked too: it would never be sent, and it must not stay stored.
RECORD_REFUSAL = f"""
UPDATE customer.outbox
SET attempts = attempts + 1, last_error = $2,
    parked_at = CASE WHEN attempts + 1 >= $3 THEN now() END,
    payload = CASE WHEN attempts + 1 >= $3 AND routing_key = '{SHOPPER_OTP_REQUESTED}'
        THEN jsonb_set(payload, '{{code}}', '""') ELSE payload END
WHERE id = $1
RETURNING attempts, parked_at IS NOT NULL AS parked
"""
# Sent rows past retention, a bounded number at a time (outbox_sent_idx); rows another replica's
# sweep is deleting are skipped, not waited for.
DELETE_SENT_BEFORE = """
DELETE FROM customer.outbox WHERE id IN (
    SELECT id FROM customer.outbox WHERE sent_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED
)
"""
NOTIFY_CHANNEL = "customer_outbox"
# A priority-0 row that commits during a backlog waits for the batch in flight. Batches of 500,
# 1000 and 2000 all drained ~5k events/s (aio-pika's per-message cost dominates, not the
# per-batch transaction), so the smallest keeps that wait shortest (~0.15 s).
BATCH_SIZE = 500
DEFAULT_MAX_ATTEMPTS = 10


async def relay_once(
    pool: asyncpg.Pool,
    publisher: Publisher,
    *,
    batch_size: int = BATCH_SIZE,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    suspects: set[int] | None = None,
) -> int:
    """Publish one batch of unsent events; returns how many rows it settled (published,
    parked, or newly suspected: worth another round at once).

    `suspects` (kept by the caller between rounds) are rows whose publish failed in a
    pipeline: a refusal closes the channel under every publish in flight, so the pipeline
    cannot say whose row it was, and publishing the culprit in a pipeline again would send
    frames on a channel the broker has closed (it then closes the whole connection). Suspects
    are published one at a time, first; only a refusal of a row alone counts against it.
    Raises when the broker cannot be reached: nothing is counted against any row then."""
    suspects = set() if suspects is None else suspects
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(CLAIM_UNSENT, batch_size)
        if not rows:
            return 0
        alone = [row for row in rows if row["id"] in suspects]
        pipelined = [row for row in rows if row["id"] not in suspects]
        sent: list[asyncpg.Record] = []
        parked = 0
        for row in alone:
            try:
                await _publish(publisher, row)
            except Exception as exc:
                if not _refused(exc):
                    raise
                if await _record_refusal(conn, row, exc, max_attempts):
                    parked += 1
                    suspects.discard(row["id"])
                continue
            sent.append(row)
            suspects.discard(row["id"])
        # Confirms are awaited together: the broker acknowledges a pipeline, not one by one.
        outcomes = await asyncio.gather(
            *(_publish(publisher, row) for row in pipelined), return_exceptions=True
        )
        newly_suspected = 0
        for row, outcome in zip(pipelined, outcomes, strict=True):
            if outcome is None:
                sent.append(row)
            else:
                suspects.add(row["id"])
                newly_suspected += 1
        if sent:
            await conn.execute(MARK_SENT, [row["id"] for row in sent])
    for row in sent:
        metrics.OUTBOX_PUBLISHED.labels(row["routing_key"]).inc()
    return len(sent) + parked + newly_suspected


async def _publish(publisher: Publisher, row: asyncpg.Record) -> None:
    await publisher.publish(
        row["exchange"],
        row["routing_key"],
        row["payload"],
        message_id=row["payload"]["eventId"],
        headers=_headers(row["request_id"]),
    )


def _refused(exc: BaseException) -> bool:
    """The broker refused this row (it closed the channel over it), or the client could not
    encode it: the row is to blame. Anything else (a connection lost or being restored, a
    publish not confirmed in time) blames no row. Nor does a nack: RabbitMQ nacks what a
    quorum queue cannot take now (no leader yet after a restart, or a full queue), whatever the
    message, so counting nacks would park sound events during a broker's recovery."""
    return isinstance(exc, AMQPChannelError | ValueError | TypeError | KeyError)


async def _record_refusal(
    conn: asyncpg.Connection, row: asyncpg.Record, exc: BaseException, max_attempts: int
) -> bool:
    """Count a refused publish against its row; True if that parked it. The log line
    names the row and the error's kind only: the payload and the broker's message may carry
    refs."""
    error = type(exc).__name__
    attempts, parked = await conn.fetchrow(RECORD_REFUSAL, row["id"], error, max_attempts)
    event = {"outbox_id": row["id"], "type": row["routing_key"], "error": error}
    if not parked:
        log.warning("outbox event not published, will retry", attempts=attempts, **event)
        return False
    metrics.OUTBOX_PARKED.labels(row["routing_key"]).inc()
    log.error("outbox event parked", attempts=attempts, **event)
    return True


def _headers(request_id: str | None) -> dict[str, str] | None:
    """The request a message was queued by travels with it, so the consumer's log lines of
    handling it carry the same request id (API.md §1)."""
    return None if request_id is None else {REQUEST_ID_HEADER: request_id}


class OutboxRelay:
    """The background loop: drain, then sleep until NOTIFY or the poll interval."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        publisher: Publisher,
        *,
        dsn: str,
        poll_interval: float = 2.0,
        max_backoff: float = 10.0,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> None:
        self._pool = pool
        self._publisher = publisher
        self._dsn = dsn
        self._poll_interval = poll_interval
        self._backoff = Backoff(base=0.5, cap=max_backoff)
        self._max_attempts = max_attempts
        self._suspects: set[int] = set()  # see relay_once
        self._wakeup = asyncio.Event()
        self._listener: asyncpg.Connection | None = None

    async def run(self) -> None:
        while True:
            try:
                await self._ensure_listener()
                while await self._relay_once() > 0:
                    pass
                self._backoff.reset()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a dependency is down: retry with backoff, never die
                log.warning("outbox relay failed, retrying", error=type(exc).__name__)
                await self._drop_listener()
                await self._backoff.wait()
                continue
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._poll_interval)

    async def _relay_once(self) -> int:
        return await relay_once(
            self._pool, self._publisher, max_attempts=self._max_attempts, suspects=self._suspects
        )

    async def _ensure_listener(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            return
        self._listener = await asyncpg.connect(self._dsn, timeout=5)
        await self._listener.add_listener(NOTIFY_CHANNEL, lambda *_: self._wakeup.set())

    async def _drop_listener(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close(timeout=2)
        self._listener = None

    async def close(self) -> None:
        await self._drop_listener()


async def delete_sent_before(pool: asyncpg.Pool, before: datetime, *, limit: int) -> int:
    """Delete up to `limit` rows sent before `before`; returns how many."""
    async with connection(pool) as conn:
        status = await conn.execute(DELETE_SENT_BEFORE, before, limit)
    return int(status.split()[-1])
