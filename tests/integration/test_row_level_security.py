"""PostgreSQL row-level security: the second line of tenant isolation."""

from __future__ import annotations

import uuid

import asyncpg

from shared.db import APP_ROLE, create_pool, tenant_transaction
from tests.support.customers import insert_customer


async def test_query_without_tenant_setting_sees_nothing(test_settings, unique_tenant):
    """As the app role with no app.tenant, even an unfiltered SELECT returns no rows."""
    pool = await create_pool(test_settings.database_url, min_size=0)
    try:
        await insert_customer(pool, unique_tenant)
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT set_config('role', $1, true)", APP_ROLE)
            assert await conn.fetchval("SELECT count(*) FROM customer.customers") == 0
    finally:
        await pool.close()


async def test_tenant_transaction_sees_only_its_tenant(test_settings, unique_tenant):
    """A query that forgets its tenant filter still sees one tenant only."""
    pool = await create_pool(test_settings.database_url, min_size=0)
    other = unique_tenant + "_other"
    try:
        mine = await insert_customer(pool, unique_tenant)
        await insert_customer(pool, other)
        async with tenant_transaction(pool, unique_tenant) as conn:
            ids = [r["id"] for r in await conn.fetch("SELECT id FROM customer.customers")]
        assert ids == [mine]
    finally:
        await pool.close()


async def test_row_of_another_tenant_cannot_be_written(test_settings, unique_tenant):
    """WITH CHECK refuses a row whose tenant is not the transaction's."""
    pool = await create_pool(test_settings.database_url, min_size=0)
    try:
        async with tenant_transaction(pool, unique_tenant) as conn:
            try:
                await conn.execute(
                    "INSERT INTO customer.customers (tenant_id, id, email) VALUES ($1, $2, $3)",
                    "someone-else",
                    uuid.uuid4(),
                    "x@example.com",
                )
            except asyncpg.InsufficientPrivilegeError:
                refused = True
            else:
                refused = False
        assert refused
    finally:
        await pool.close()
