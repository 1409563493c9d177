"""What is kept only for a while, deleted on a schedule (README, "Personal data: what is kept").

- The content (file or records) of an import batch never queued: the batch ends in ERROR once
  its content has not changed for IMPORT_FILE_RETENTION_DAYS, and its content is deleted with it
  (as when any batch ends), with the usual `impex.batch.failed` event.
- Outbox rows, once published: deleted OUTBOX_SENT_RETENTION_DAYS after they were sent (their
  payloads name customers by id and refs).
- Idempotency keys and the answers stored with them: deleted once their 24 hours are over.

Every customer_service replica sweeps every RETENTION_SWEEP_INTERVAL_SECONDS; sweeps side by side
are safe (each batch is re-checked under its row lock, outbox rows are claimed SKIP LOCKED).
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
import structlog

from customer_service import idempotency_records
from customer_service.outbox_relay import delete_sent_before
from shared.db import connection, tenant_transaction
from shared.imports import batches
from shared.imports.lifecycle import end_batch
from shared.imports.representation import CREATED, ERROR
from shared.timefmt import utcnow

log = structlog.get_logger("retention")

EXPIRED_MESSAGE = "Expired: not queued within the retention period; its content was deleted."
# Rows handled per statement: a sweep after a long pause works through a backlog in pieces.
SWEEP_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class Swept:
    expired_batches: int
    deleted_outbox_rows: int
    deleted_idempotency_keys: int = 0


class RetentionSweeper:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        import_file_retention: timedelta,
        outbox_sent_retention: timedelta,
        interval: float,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._pool = pool
        self._import_file_retention = import_file_retention
        self._outbox_sent_retention = outbox_sent_retention
        self._interval = interval
        self._clock = clock

    async def run(self) -> None:
        """Sweep now, then every `interval` seconds; a failed sweep is logged and retried then."""
        while True:
            try:
                swept = await self.sweep()
                if any(dataclasses.astuple(swept)):
                    log.info("retention sweep", **dataclasses.asdict(swept))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a dependency is down: the next sweep tries again
                log.warning("retention sweep failed", error=type(exc).__name__)
            await asyncio.sleep(self._interval)

    async def sweep(self) -> Swept:
        now = self._clock()
        expired = await self._expire_batches(now - self._import_file_retention, now)
        deleted = 0
        while True:
            count = await delete_sent_before(
                self._pool, now - self._outbox_sent_retention, limit=SWEEP_LIMIT
            )
            deleted += count
            if count < SWEEP_LIMIT:
                break
        return Swept(expired, deleted, await self._delete_expired_keys(now))

    async def _delete_expired_keys(self, now: datetime) -> int:
        deleted = 0
        while True:
            async with connection(self._pool) as conn:
                count = await idempotency_records.delete_expired(conn, now, limit=SWEEP_LIMIT)
            deleted += count
            if count < SWEEP_LIMIT:
                return deleted

    async def _expire_batches(self, before: datetime, now: datetime) -> int:
        expired = 0
        while True:
            async with connection(self._pool) as conn:
                stale = await batches.stale_created_batches(conn, before, SWEEP_LIMIT)
            for tenant, batch_id in stale:
                expired += await self._expire(tenant, batch_id, before, now)
            if len(stale) < SWEEP_LIMIT:
                return expired

    async def _expire(
        self, tenant: str, batch_id: uuid.UUID, before: datetime, now: datetime
    ) -> int:
        async with tenant_transaction(self._pool, tenant) as conn:
            batch = await batches.fetch_batch(conn, tenant, "id", batch_id, for_update=True)
            # Queued or given new content since it was listed: not stale any more.
            if batch is None or batch["state"] != CREATED or batch["modified_at"] >= before:
                return 0
            await end_batch(conn, tenant, batch_id, ERROR, now, error_message=EXPIRED_MESSAGE)
        return 1
