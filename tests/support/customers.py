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
