"""Queue drops: the batch named by batchRef is created (or found again on a redelivery), given
the dropped content and queued; a refused drop ends it ERROR with the reason.

Two drops are refused without touching a batch:
- one for a tenant auth_service does not know (`UnknownTenant`): there is no tenant to create a
  batch or customers for, nor to announce anything to, so the handler dead-letters the message
  (kept for operators, who can replay it once the tenant exists);
- one for a batchRef whose batch already ended, unless it is a redelivery of the very message
  that ran it: its records would otherwise vanish silently. The ended batch stays as it is
  (its counters are true); `impex.batch.failed` with a `reason` tells the producer.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import datetime

import asyncpg
import orjson
import structlog
from prometheus_client import Counter

from impex_worker import metrics
from impex_worker.imports.messages import DropFile, DropRecords, DropRefused
from impex_worker.imports.sources import PathRefused, resolve_drop_path
from shared import db
from shared.amqp import IMPEX_BATCH_FAILED, IMPEX_EVENTS_EXCHANGE
from shared.db import tenant_transaction
from shared.imports import batches
from shared.imports.lifecycle import end_batch
from shared.imports.representation import (
    CREATED,
    ENDED_STATES,
    ERROR,
    READY,
    batch_event,
)
from shared.outbox import add_outbox_message
from shared.tenants import tenant_exists
from shared.timefmt import utcnow

log = structlog.get_logger("imports")

Drop = DropFile | DropRecords | DropRefused

# Why drops were refused; bounded labels, never a tenant or batch. (Here rather than in
# impex_worker.metrics because only this module counts them.)
DROPS_REFUSED = Counter(
    "impex_drops_refused_total",
    "Queue drops refused, by reason (invalid, unknown_tenant, batch_ended)",
    ["reason"],
    registry=metrics.REGISTRY,
)
INVALID, UNKNOWN_TENANT, BATCH_ENDED = "invalid", "unknown_tenant", "batch_ended"
for _reason in (INVALID, UNKNOWN_TENANT, BATCH_ENDED):
    DROPS_REFUSED.labels(_reason)

# Tenants are created, never deleted, so a known one can be remembered; a minute bounds the
# lag should one ever be removed by hand.
KNOWN_TENANT_SECONDS = 60.0


class UnknownTenant(Exception):
    """The drop names a tenant auth_service does not know. The text holds no personal data."""


class KnownTenants:
    """Whether auth_service knows a tenant, remembered for a while when it does, so a busy
    queue costs no query per message. An unknown tenant is looked up again every time: a drop
    for a tenant provisioned a moment ago must not be refused from a stale answer."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        ttl: float = KNOWN_TENANT_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pool = pool
        self._ttl = ttl
        self._monotonic = monotonic
        self._known_until: dict[str, float] = {}

    async def known(self, tenant: str) -> bool:
        now = self._monotonic()
        if self._known_until.get(tenant, 0.0) > now:
            return True
        async with db.connection(self._pool) as conn:
            exists = await tenant_exists(conn, tenant)
        if exists:
            self._known_until[tenant] = now + self._ttl
        else:
            self._known_until.pop(tenant, None)
        return exists


async def accept_drop(
    pool: asyncpg.Pool,
    drop: Drop,
    *,
    drop_dir: str,
    tenants: KnownTenants,
    redelivered: bool = False,
    clock: Callable[[], datetime] = utcnow,
) -> uuid.UUID | None:
    """The id of the batch to import now, or None when the drop was refused (or was a
    redelivery finding its batch ended). Raises UnknownTenant for a tenant nobody knows."""
    tenant, now = drop.tenant, clock()
    if not await tenants.known(tenant):
        log.warning("queue drop refused", reason="unknown tenant")
        DROPS_REFUSED.labels(UNKNOWN_TENANT).inc()
        raise UnknownTenant("The drop names a tenant that does not exist.")
    async with tenant_transaction(pool, tenant) as conn:
        batch = await batches.insert_batch_if_absent(conn, tenant, drop.batch_ref, now)
        if batch is None:
            batch = await batches.fetch_batch(
                conn, tenant, "batchRef", drop.batch_ref, for_update=True
            )
        structlog.contextvars.bind_contextvars(batch_id=str(batch["id"]))
        if batch["state"] in ENDED_STATES and not redelivered:
            await _refuse_ended(conn, drop, batch, now)
            refused = BATCH_ENDED
        elif batch["state"] != CREATED:
            if not redelivered:  # the batch goes on with what it was given first: say so
                log.warning(
                    "queue drop content ignored: its batch is already queued or running",
                    batch_state=batch["state"],
                )
            return batch["id"]  # resume it (or find it ended)
        elif (reason := _refusal(drop, drop_dir)) is not None:
            log.warning("queue drop refused", reason=reason)
            await end_batch(conn, tenant, batch["id"], ERROR, now, error_message=reason)
            refused = INVALID
        else:
            await _fill(conn, drop, batch["id"], now)
            return batch["id"]
    # Counted once it is committed.
    DROPS_REFUSED.labels(refused).inc()
    if refused == INVALID:
        metrics.IMPORT_BATCHES.labels(ERROR).inc()
    return None


async def _refuse_ended(
    conn: asyncpg.Connection, drop: Drop, batch: asyncpg.Record, now: datetime
) -> None:
    """Announce that the drop's content was not imported; the batch itself is not changed."""
    reason = (
        f"The batch had already ended ({batch['state']}), so the dropped content was not "
        "imported; drop it under a new batchRef."
    )
    log.warning("queue drop refused", reason="batch already ended", batch_state=batch["state"])
    event = batch_event(IMPEX_BATCH_FAILED, tenant=drop.tenant, record=batch, now=now)
    event["reason"] = reason
    await add_outbox_message(
        conn, drop.tenant, exchange=IMPEX_EVENTS_EXCHANGE, routing_key=IMPEX_BATCH_FAILED,
        payload=event,
    )  # fmt: skip


async def _fill(conn: asyncpg.Connection, drop: Drop, batch_id: uuid.UUID, now: datetime) -> None:
    """Give the batch the dropped content and queue it (READY)."""
    tenant = drop.tenant
    await batches.delete_file(conn, tenant, batch_id)
    if isinstance(drop, DropRecords):
        data = b"".join(orjson.dumps(record) + b"\n" for record in drop.records)
        if data:
            await batches.insert_file_piece(conn, tenant, batch_id, 0, data)
        await batches.set_content(
            conn, tenant, batch_id, source="records", file_format="ndjson",
            file_bytes=len(data), total=len(drop.records), now=now,
        )  # fmt: skip
    elif isinstance(drop, DropFile):
        await batches.set_content(
            conn, tenant, batch_id, source="path", file_format=drop.file_format,
            path=drop.path, now=now,
        )  # fmt: skip
    await batches.set_state(conn, tenant, batch_id, READY, now)


def _refusal(drop: Drop, drop_dir: str) -> str | None:
    if isinstance(drop, DropRefused):
        return drop.reason
    if isinstance(drop, DropFile):
        try:
            resolve_drop_path(drop.path, drop_dir, drop.tenant)
        except PathRefused as exc:
            return str(exc)
    return None
