"""Message handlers: parse the body, bind what the log line should say, run the use case."""

from __future__ import annotations

import asyncpg
import structlog
from aio_pika.abc import AbstractIncomingMessage

from impex_worker.consumer import Handler, PoisonMessage
from impex_worker.deidentify import deidentify_customer
from impex_worker.messages import InvalidMessage, parse_customer_deleted


def customer_deleted_handler(pool: asyncpg.Pool, *, pseudonym_key: str) -> Handler:
    """`customer.deleted` → de-identify that customer's wishlists in the wishlist store."""

    async def handle(message: AbstractIncomingMessage) -> None:
        try:
            event = parse_customer_deleted(message.body)
        except InvalidMessage as exc:
            raise PoisonMessage(str(exc)) from exc
        structlog.contextvars.bind_contextvars(event_id=event.event_id, tenant=event.tenant)
        rows = await deidentify_customer(
            pool, tenant=event.tenant, customer_id=event.customer_id, pseudonym_key=pseudonym_key
        )
        structlog.contextvars.bind_contextvars(rows_deidentified=rows)

    return handle
