"""Writing to the transactional outbox (customer.outbox): a message exists if and only if the
transaction that wrote it commits; customer_service's relay publishes it."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import asyncpg

# The outbox row's columns, in the order every insert gives them (statements that add the row
# beside another write, in one round trip, use them too).
OUTBOX_INSERT_INTO = (
    "INSERT INTO customer.outbox (event_id, tenant_id, exchange, routing_key, payload, request_id)"
)
INSERT_OUTBOX = f"""
{OUTBOX_INSERT_INTO}
VALUES ($1, $2, $3, $4, $5, $6)
"""


async def add_outbox_message(
    conn: asyncpg.Connection,
    tenant: str,
    *,
    exchange: str,
    routing_key: str,
    payload: Mapping[str, Any],
    request_id: str | None = None,
) -> None:
    """A message the outbox relay publishes once this transaction commits (with `request_id`
    as a header, when given)."""
    await conn.execute(
        INSERT_OUTBOX, uuid.UUID(payload["eventId"]), tenant, exchange, routing_key, payload,
        request_id,
    )  # fmt: skip
