"""All note SQL. A note's customerRef is its customer's current one, so reads join customers."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

_NOTE_COLUMNS = """
    n.id, n.customer_id, c.customer_ref, n.note, n.created_at, n.last_modified_at
"""

INSERT_NOTE = """
INSERT INTO customer.notes (tenant_id, id, customer_id, note, created_at, last_modified_at)
VALUES ($1, $2, $3, $4, $5, $5)
"""

SELECT_NOTE = f"""
SELECT {_NOTE_COLUMNS}
FROM customer.notes AS n
JOIN customer.customers AS c ON c.tenant_id = n.tenant_id AND c.id = n.customer_id
WHERE n.tenant_id = $1 AND n.id = $2 AND NOT c.deleted
"""

SELECT_NOTES_OF_CUSTOMER = f"""
SELECT {_NOTE_COLUMNS}
FROM customer.notes AS n
JOIN customer.customers AS c ON c.tenant_id = n.tenant_id AND c.id = n.customer_id
WHERE n.tenant_id = $1 AND n.customer_id = $2
ORDER BY n.created_at DESC, n.id DESC
"""

UPDATE_NOTE = """
UPDATE customer.notes SET note = $3, last_modified_at = $4
WHERE tenant_id = $1 AND id = $2
"""

DELETE_NOTE = "DELETE FROM customer.notes WHERE tenant_id = $1 AND id = $2"
DELETE_NOTES_OF_CUSTOMER = "DELETE FROM customer.notes WHERE tenant_id = $1 AND customer_id = $2"


async def insert(
    conn: asyncpg.Connection, tenant: str, customer_id: uuid.UUID, note: str, now: datetime
) -> uuid.UUID:
    note_id = uuid.uuid4()
    await conn.execute(INSERT_NOTE, tenant, note_id, customer_id, note, now)
    return note_id


async def fetch(conn: asyncpg.Connection, tenant: str, note_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_NOTE, tenant, note_id)


async def fetch_of_customer(
    conn: asyncpg.Connection, tenant: str, customer_id: uuid.UUID
) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_NOTES_OF_CUSTOMER, tenant, customer_id)


async def update(
    conn: asyncpg.Connection, tenant: str, note_id: uuid.UUID, note: str, now: datetime
) -> bool:
    return await conn.execute(UPDATE_NOTE, tenant, note_id, note, now) == "UPDATE 1"


async def delete(conn: asyncpg.Connection, tenant: str, note_id: uuid.UUID) -> bool:
    return await conn.execute(DELETE_NOTE, tenant, note_id) == "DELETE 1"


async def delete_of_customer(conn: asyncpg.Connection, tenant: str, customer_id: uuid.UUID) -> None:
    await conn.execute(DELETE_NOTES_OF_CUSTOMER, tenant, customer_id)
