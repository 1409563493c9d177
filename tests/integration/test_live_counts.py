"""The kept live-customer counter (0009) equals count(*) of live customers after every kind of
write: API creates and deletes, batch items, multi-row SQL (as imports write), hard deletes,
concurrent writers; and row-level security keeps each tenant's counter its own."""

from __future__ import annotations

import asyncio

from customer_service.collection import repository as collection_repository
from shared.db import create_pool, tenant_transaction
from tests.support.customers import MULTI_ROW_LIVE, write_multi_row


async def _counts(database_url: str, tenant: str) -> tuple[int, int]:
    """(the counter as customer_service reads it, count(*) of live customers)."""
    pool = await create_pool(database_url, min_size=0, max_size=1)
    try:
        async with tenant_transaction(pool, tenant) as conn:
            kept = await collection_repository.count(conn, tenant, [])
            live = await conn.fetchval(
                "SELECT count(*) FROM customer.customers WHERE tenant_id = $1 AND NOT deleted",
                tenant,
            )
    finally:
        await pool.close()
    return kept, live


async def test_counter_follows_api_writes_and_batches(calls, test_settings, unique_tenant):
    created = [await calls.create(email=f"c{i}@x.com") for i in range(3)]
    await calls.call("DELETE", f"/customers/{created[0]['id']}")
    await calls.call("PUT", f"/customers/id={created[1]['id']}", {"firstName": "Changed"})
    body = {
        "create": [{"email": "b1@x.com"}, {"email": "C2@x.com"}],  # the second is a 409
        "delete": [{"id": created[2]["id"]}],
    }
    status, _ = await calls.call("POST", "/customers/batch", body)
    assert status == 207
    assert await _counts(test_settings.database_url, unique_tenant) == (2, 2)
    assert (await calls.call("GET", "/customers"))[1]["total"] == 2


async def test_counter_follows_multi_row_sql_and_hard_deletes(test_settings, unique_tenant):
    await write_multi_row(test_settings.database_url, unique_tenant)
    kept, live = await _counts(test_settings.database_url, unique_tenant)
    assert kept == live == MULTI_ROW_LIVE


async def test_concurrent_creates_are_all_counted(calls, test_settings, unique_tenant):
    results = await asyncio.gather(
        *(calls.call("POST", "/customers", {"email": f"p{i}@x.com"}) for i in range(24))
    )
    assert [status for status, _ in results] == [201] * 24, [
        body for status, body in results if status != 201
    ]
    assert await _counts(test_settings.database_url, unique_tenant) == (24, 24)


async def test_a_tenant_reads_only_its_own_counter(calls, test_settings):
    await calls.create(email="mine@x.com")
    assert await _counts(test_settings.database_url, "t_nobody_here") == (0, 0)
