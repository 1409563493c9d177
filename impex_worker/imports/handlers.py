"""The imports queue's handlers: run the batch a message names, and mark ERROR the batch of a
message the queue gave up on."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import asyncpg
import structlog
from aio_pika.abc import AbstractIncomingMessage

from impex_worker import metrics
from impex_worker.consumer import Handler, PoisonMessage
from impex_worker.imports.fair import FairSlots
from impex_worker.imports.intake import KnownTenants, UnknownTenant, accept_drop
from impex_worker.imports.messages import (
    DELIVERY_LIMIT_REACHED,
    ImportBatch,
    ImportMessage,
    dead_letter_reason,
    death_cause,
    parse_import_message,
)
from impex_worker.imports.runner import BatchRunner
from impex_worker.messages import InvalidMessage
from shared.db import tenant_transaction
from shared.imports import batches
from shared.imports.lifecycle import end_batch, queue_batch
from shared.imports.representation import ENDED_STATES, ERROR
from shared.timefmt import utcnow

log = structlog.get_logger("imports")

# Batches one worker imports at once: more would only share its CPU (and pool); the other
# messages wait unacknowledged, for this worker or another, and are served fairly between
# tenants (FairSlots).
IMPORTS_AT_ONCE = 2


def import_handler(
    runner: BatchRunner,
    pool: asyncpg.Pool,
    *,
    drop_dir: str,
    slots: FairSlots | None = None,
) -> Handler:
    """A batch to import: run it to its end (or resume it). The message stays unacked until
    then, so a worker that dies hands it, and the batch, to the next one."""
    slots = slots or FairSlots(IMPORTS_AT_ONCE)
    tenants = KnownTenants(pool)

    async def handle(message: AbstractIncomingMessage) -> None:
        try:
            request = parse_import_message(message.body)
        except InvalidMessage as exc:
            raise PoisonMessage(str(exc)) from exc
        async with slots.slot(request.tenant):
            await _handle(message, request)

    async def _handle(message: AbstractIncomingMessage, request: ImportMessage) -> None:
        structlog.contextvars.bind_contextvars(tenant=request.tenant)
        if isinstance(request, ImportBatch):
            batch_id = request.batch_id
            structlog.contextvars.bind_contextvars(batch_id=str(batch_id))
        else:
            try:
                batch_id = await accept_drop(
                    pool, request, drop_dir=drop_dir, tenants=tenants,
                    redelivered=_redelivered(message),
                )  # fmt: skip
            except UnknownTenant as exc:
                raise PoisonMessage(str(exc)) from exc
            if batch_id is None:
                return
        try:
            state = await runner.run(request.tenant, batch_id)
        except Exception as exc:
            await runner.note_failure(request.tenant, batch_id, exc)
            raise
        structlog.contextvars.bind_contextvars(batch_state=state)

    return handle


def _redelivered(message: AbstractIncomingMessage) -> bool:
    """Whether this message was delivered before (a worker died or was stopped before acking):
    then an ended batch is most likely its own doing, not a second drop. Quorum queues also
    count deliveries in `x-delivery-count`."""
    count = (message.headers or {}).get("x-delivery-count")
    return bool(message.redelivered) or (isinstance(count, int) and count > 0)


def dead_letter_handler(pool: asyncpg.Pool, *, clock: Callable[[], datetime] = utcnow) -> Handler:
    """An import message RabbitMQ dead-lettered. Every delivery counts, including those cut
    short by a worker being killed or stopped; so a batch that was only interrupted (no error
    since its last chunk) and has moved on since it was last re-queued is queued again, with a
    fresh message. Otherwise its batch ends ERROR, saying why."""

    async def handle(message: AbstractIncomingMessage) -> None:
        try:
            request = parse_import_message(message.body)
        except InvalidMessage:
            return  # names no batch; the suite's dead-letter queue keeps it for operators
        kind, value = (
            ("id", request.batch_id)
            if isinstance(request, ImportBatch)
            else ("batchRef", request.batch_ref)
        )
        tenant = request.tenant
        structlog.contextvars.bind_contextvars(tenant=tenant)
        async with tenant_transaction(pool, tenant) as conn:
            batch = await batches.fetch_batch(conn, tenant, kind, value, for_update=True)
            if batch is None or batch["state"] in ENDED_STATES:
                return
            structlog.contextvars.bind_contextvars(batch_id=str(batch["id"]))
            if _interrupted_with_progress(batch, death_cause(message.headers)):
                await batches.set_requeued_at(conn, tenant, batch["id"])
                await queue_batch(conn, tenant, batch["id"])
                log.warning("interrupted batch queued again", processed=batch["processed"])
                return
            reason = f"The import was given up because {dead_letter_reason(message.headers)}"
            if batch["last_error"]:
                reason += f" (last error: {batch['last_error'].rstrip('.')})"
            await end_batch(conn, tenant, batch["id"], ERROR, clock(), error_message=reason + ".")
        metrics.IMPORT_BATCHES.labels(ERROR).inc()

    return handle


def _interrupted_with_progress(batch: Mapping[str, Any], cause: str | None) -> bool:
    return (
        cause == DELIVERY_LIMIT_REACHED
        and batch["last_error"] is None
        and batch["processed"] > (batch["requeued_at"] or 0)
    )
