"""All customer SQL. Every statement takes the tenant as a parameter; the connection comes from
`shared.db.tenant_transaction`, so row-level security applies as well."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import asyncpg

from shared.amqp import CUSTOMER_EVENTS_EXCHANGE
from shared.errors import Conflict

_CUSTOMER_COLUMNS = """
    id, customer_ref, alternate_customer_ref, email, first_name, last_name, mobile, phone,
    profile, deleted, created_at, last_modified_at
"""

INSERT_CUSTOMER = f"""
INSERT INTO customer.customers (
    tenant_id, id, customer_ref, alternate_customer_ref, email, first_name, last_name,
    mobile, phone, profile, created_at, last_modified_at
) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)
RETURNING {_CUSTOMER_COLUMNS}
"""

UPDATE_CUSTOMER = f"""
UPDATE customer.customers SET
    customer_ref = $3, alternate_customer_ref = $4, email = $5, first_name = $6,
    last_name = $7, mobile = $8, phone = $9, profile = $10, last_modified_at = $11
WHERE tenant_id = $1 AND id = $2 AND NOT deleted
RETURNING {_CUSTOMER_COLUMNS}
"""

SELECT_BY_ID = f"""
SELECT {_CUSTOMER_COLUMNS} FROM customer.customers
WHERE tenant_id = $1 AND id = $2 AND NOT deleted
"""

# Scrubs everything personal; the row stays only as a tombstone (id and timestamps).
SOFT_DELETE = """
UPDATE customer.customers AS c SET
    deleted = true, deleted_at = $3, last_modified_at = $3,
    customer_ref = NULL, alternate_customer_ref = NULL, email = NULL, first_name = NULL,
    last_name = NULL, mobile = NULL, phone = NULL, profile = '{}'::jsonb
FROM (
    SELECT id, customer_ref, alternate_customer_ref FROM customer.customers
    WHERE tenant_id = $1 AND id = $2 AND NOT deleted
    FOR UPDATE
) AS before
WHERE c.tenant_id = $1 AND c.id = before.id
RETURNING c.id, before.customer_ref, before.alternate_customer_ref
"""

DELETE_NOTES_OF_CUSTOMER = """
DELETE FROM customer.notes WHERE tenant_id = $1 AND customer_id = $2
"""

INSERT_OUTBOX = """
INSERT INTO customer.outbox (event_id, tenant_id, exchange, routing_key, payload)
VALUES ($1, $2, $3, $4, $5)
"""

# Which unique index means which field, for the 409 body.
_UNIQUE_INDEX_FIELDS = {
    "customers_email_key": "email",
    "customers_customer_ref_key": "customerRef",
    "customers_alternate_customer_ref_key": "alternateCustomerRef",
}


def _conflict(exc: asyncpg.UniqueViolationError) -> Conflict:
    field = _UNIQUE_INDEX_FIELDS.get(exc.constraint_name or "", "id")
    return Conflict(
        f"Another customer already has this {field}.", errors={field: ["already in use"]}
    )


async def insert_customer(
    conn: asyncpg.Connection,
    tenant: str,
    customer_id: uuid.UUID,
    columns: Mapping[str, Any],
    profile: Mapping[str, Any],
    now: datetime,
) -> asyncpg.Record:
    try:
        return await conn.fetchrow(
            INSERT_CUSTOMER, tenant, customer_id, *_column_values(columns), profile, now
        )
    except asyncpg.UniqueViolationError as exc:
        raise _conflict(exc) from None


async def update_customer(
    conn: asyncpg.Connection,
    tenant: str,
    customer_id: uuid.UUID,
    columns: Mapping[str, Any],
    profile: Mapping[str, Any],
    now: datetime,
) -> asyncpg.Record | None:
    try:
        return await conn.fetchrow(
            UPDATE_CUSTOMER, tenant, customer_id, *_column_values(columns), profile, now
        )
    except asyncpg.UniqueViolationError as exc:
        raise _conflict(exc) from None


def _column_values(columns: Mapping[str, Any]) -> tuple[Any, ...]:
    return (
        columns["customer_ref"],
        columns["alternate_customer_ref"],
        columns["email"],
        columns["first_name"],
        columns["last_name"],
        columns["mobile"],
        columns["phone"],
    )


async def fetch_by_id(
    conn: asyncpg.Connection, tenant: str, customer_id: uuid.UUID, *, for_update: bool = False
) -> asyncpg.Record | None:
    query = SELECT_BY_ID + (" FOR UPDATE" if for_update else "")
    return await conn.fetchrow(query, tenant, customer_id)


async def soft_delete(
    conn: asyncpg.Connection, tenant: str, customer_id: uuid.UUID, now: datetime
) -> asyncpg.Record | None:
    """Tombstone the customer and drop its notes; the record returned holds the ids it had."""
    deleted = await conn.fetchrow(SOFT_DELETE, tenant, customer_id, now)
    if deleted is not None:
        await conn.execute(DELETE_NOTES_OF_CUSTOMER, tenant, customer_id)
    return deleted


async def add_outbox_event(conn: asyncpg.Connection, tenant: str, event: Mapping[str, Any]) -> None:
    await conn.execute(
        INSERT_OUTBOX,
        uuid.UUID(event["eventId"]),
        tenant,
        CUSTOMER_EVENTS_EXCHANGE,
        event["type"],
        event,
    )
