"""`order.upserted` messages (API.md §11) → order facts in the customer database."""

from __future__ import annotations

import asyncpg
import structlog
from aio_pika.abc import AbstractIncomingMessage

from impex_worker.consumer import Handler, PoisonMessage
from impex_worker.messages import InvalidMessage, parse_order_upserted
from shared.orders.service import apply_facts


def order_upserted_handler(pool: asyncpg.Pool) -> Handler:
    """Apply one fact; a malformed one is poison (dead-lettered, its reason logged), a database
    that is down a retry."""

    async def handle(message: AbstractIncomingMessage) -> None:
        try:
            event = parse_order_upserted(message.body)
        except InvalidMessage as exc:
            raise PoisonMessage(str(exc)) from exc
        structlog.contextvars.bind_contextvars(
            event_id=event.fact.event_id, tenant=event.tenant, order_ref=event.fact.order_ref
        )
        applied = await apply_facts(pool, event.tenant, [event.fact])
        structlog.contextvars.bind_contextvars(applied=bool(applied))

    return handle
