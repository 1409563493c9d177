"""Writing to the transactional outbox (customer.outbox): a message exists if and only if the
transaction that wrote it commits; customer_service's relay publishes it."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import asyncpg

INSERT_OUTBOX = """
INSERT INTO customer.outbox (event_id, tenant_id, exchange, routing_key, payload, request_id)
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
