"""Customers written straight to the database, for tests of what the database enforces."""

from __future__ import annotations

import uuid

import asyncpg

from shared.db import tenant_transaction


async def insert_customer(pool: asyncpg.Pool, tenant: str) -> uuid.UUID:
    """One customer of `tenant` (id and email only), written in a tenant transaction."""
    customer_id = uuid.uuid4()
    async with tenant_transaction(pool, tenant) as conn:
        await conn.execute(
            "INSERT INTO customer.customers (tenant_id, id, email) VALUES ($1, $2, $3)",
            tenant,
            customer_id,
            f"{customer_id}@example.com",
        )
    return customer_id


# What write_multi_row leaves live: 50 written, 10 of them deleted as written (m5, m10, …);
# m1 and m10-m19 deleted by an update (m10, m15 were already); m2 and m20-m29 hard-deleted
# (m20, m25 were already deleted).
MULTI_ROW_LIVE = 40 - 9 - 9


async def write_multi_row(database_url: str, tenant: str) -> None:
    """Multi-row statements as imports and sweeps write them, as the owner: an insert of 50
    customers, an update of some modified times, a soft delete by update and a hard delete."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "INSERT INTO customer.customers (tenant_id, id, email, deleted)"
            " SELECT $1, gen_random_uuid(), 'm' || g || '@x.com', g % 5 = 0"
            " FROM generate_series(1, 50) AS g",
            tenant,
        )
        await conn.execute(
            "UPDATE customer.customers SET last_modified_at = now() + interval '1 hour'"
            " WHERE tenant_id = $1 AND email LIKE 'm3%'",
            tenant,
        )
        await conn.execute(
            "UPDATE customer.customers SET deleted = true"
            " WHERE tenant_id = $1 AND email LIKE 'm1%'",
            tenant,
        )
        await conn.execute(
            "DELETE FROM customer.customers WHERE tenant_id = $1 AND email LIKE 'm2%'", tenant
        )
    finally:
        await conn.close()
