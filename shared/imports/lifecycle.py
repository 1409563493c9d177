"""A batch's moves that both the import API and the worker make: queueing it for the worker and
ending it. Each writes its message through the outbox in the caller's transaction, so the
message exists if and only if the move committed."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from shared.amqp import CUSTOMERS_IMPORT, IMPEX_BATCH_FAILED, IMPEX_EVENTS_EXCHANGE, IMPEX_EXCHANGE
from shared.imports import batches as repository
from shared.imports.representation import batch_event, import_message
from shared.log import current_request_id
from shared.outbox import add_outbox_message


async def end_batch(
    conn: asyncpg.Connection,
    tenant: str,
    batch_id: uuid.UUID,
    state: str,
    now: datetime,
    *,
    error_message: str | None = None,
    event_type: str = IMPEX_BATCH_FAILED,
) -> asyncpg.Record:
    """Move a batch to an end state, drop its stored content, and announce it (outbox)."""
    record = await repository.set_state(
        conn, tenant, batch_id, state, now, error_message=error_message
    )
    await repository.delete_file(conn, tenant, batch_id)
    event = batch_event(event_type, tenant=tenant, record=record, now=now)
    await add_outbox_message(
        conn, tenant, exchange=IMPEX_EVENTS_EXCHANGE, routing_key=event_type, payload=event,
        request_id=current_request_id(),
    )  # fmt: skip
    return record


async def queue_batch(conn: asyncpg.Connection, tenant: str, batch_id: uuid.UUID) -> None:
    """The worker's message for the batch, published by the outbox relay once this commits."""
    await add_outbox_message(
        conn, tenant, exchange=IMPEX_EXCHANGE, routing_key=CUSTOMERS_IMPORT,
        payload=import_message(tenant=tenant, batch_id=batch_id),
        request_id=current_request_id(),
    )  # fmt: skip
